"""Tests of gr_jax.evaluate: metrics (hand-computed and against a peer evaluator), generation scores,
plots, and an end-to-end evaluation with a stand-in model whose answers are known."""

import json
import math
import os
import sys

import numpy as np
import pytest

from gr_jax import evaluate
from gr_jax import recommend
from gr_jax import text_vocab as vocab_lib
from gr_jax.baselines import sasrec
from gr_jax.data import schema
from gr_jax.reports import eval_plots
from gr_jax_tasks import testing

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import toy_seq2seq  # pylint: disable=g-import-not-at-top,wrong-import-position


def test_paired_differences_by_hand():
  # Ranks of 4 users; HR@10 per user: system [1, 1, 0, 1], baseline [1, 0, 0, 0].
  ranks = {"model": np.array([0, 3, -1, 9]), "base": np.array([2, -1, 12, -1])}
  out = evaluate.paired_differences(ranks, ["base", "absent"])
  assert set(out) == {"model"} and set(out["model"]) == {"base"}  # Baselines are not compared.
  hr = out["model"]["base"]["HR@10"]
  d = np.array([0.0, 1.0, 0.0, 1.0])
  assert hr["diff"] == pytest.approx(0.5) and hr["n"] == 4
  assert hr["se"] == pytest.approx(d.std(ddof=1) / 2.0)
  ndcg = out["model"]["base"]["NDCG@10"]
  expected = [1 - 1 / math.log2(4), 1 / math.log2(5), 0.0, 1 / math.log2(11)]
  assert ndcg["diff"] == pytest.approx(np.mean(expected))
  # Identical systems: zero difference with zero error, so a tie is not mistaken for a gap.
  same = evaluate.paired_differences({"a": ranks["model"], "b": ranks["model"]}, ["b"])
  assert same["a"]["b"]["HR@10"] == {"diff": 0.0, "se": 0.0, "n": 4}


def test_hand_computed_metrics():
  preds = [[3, 1, 2], [5, 4, 3], [9, 8, 7], [2, 6, 0]]
  ranks = evaluate.target_ranks(preds, [1, 3, 0, 2])
  assert ranks.tolist() == [1, 2, -1, 0]
  m = evaluate.ranking_metrics(ranks, hr_ks=(1, 2, 5), ndcg_ks=(2, 5))
  assert m["HR@1"] == pytest.approx(0.25)
  assert m["HR@2"] == pytest.approx(0.5)
  assert m["HR@5"] == pytest.approx(0.75)
  assert m["NDCG@2"] == pytest.approx((1 / math.log2(3) + 1) / 4)
  assert m["NDCG@5"] == pytest.approx((1 / math.log2(3) + 0.5 + 1) / 4)
  assert m["MRR"] == pytest.approx((1 / 2 + 1 / 3 + 1) / 4)
  assert m["n"] == 4
  curves = evaluate.metric_curves(ranks, 3)
  assert curves["HR"] == pytest.approx([0.25, 0.5, 0.75])
  assert curves["NDCG"][0] == pytest.approx(0.25)


def test_sid_beam_metrics_ranks_t5x_beams_like_evaluate():
  """The seqio metric of the seqrec tasks (beams in T5X order: best last, dead beams first as
  empty strings) gives exactly the metrics `evaluate` computes from ranked catalog items."""
  rng = np.random.default_rng(3)
  n_items, k = 60, 20
  sids = [f"<a_{n // 8}><b_{n % 8}>" for n in range(n_items)]
  ranked, targets, predictions, target_sids = [], [], [], []
  for u in range(300):
    found = k if u % 4 else int(rng.integers(0, k))  # Some users' beams reach < k items.
    row = list(rng.choice(n_items, found, replace=False)) + [-1] * (k - found)
    target = int(rng.choice(row[:found])) if found and rng.random() < 0.6 else int(rng.integers(n_items))
    ranked.append(row)
    targets.append(target)
    predictions.append([sids[i] if i >= 0 else "" for i in reversed(row)])
    target_sids.append(sids[target])
  want = evaluate.ranking_metrics(evaluate.target_ranks(ranked, targets))
  got = evaluate.sid_beam_metrics(target_sids, predictions)
  assert set(got) == {"HR@1", "HR@5", "HR@10", "NDCG@5", "NDCG@10", "MRR"}
  assert got == {key: want[key] for key in got}
  assert 0.1 < got["HR@10"] < 1 and got["HR@1"] < got["HR@5"] < got["HR@10"]
  # Only the top beam (T5X's default): a hit is a hit at rank 0.
  top = evaluate.sid_beam_metrics(target_sids, [p[-1] for p in predictions])
  hits = np.mean([p[-1] == t for p, t in zip(predictions, target_sids)])
  assert top["HR@1"] == top["HR@10"] == top["NDCG@10"] == pytest.approx(hits)


def _peer_topk_results(outputs, scores, targets, k):
  """LC-Rec / MiniOneRec style: per user, sort its k beams by score, mark hits 1/0."""
  results = []
  for b, target in enumerate(targets):
    pairs = sorted(zip(outputs[b * k:(b + 1) * k], scores[b * k:(b + 1) * k]), key=lambda x: -x[1])
    results.append([1 if seq == target else 0 for seq, _ in pairs])
  return results


def _peer_metrics(results, metric):
  name, k = metric.split("@")
  total = 0.0
  for row in results:
    res = row[:int(k)]
    if name == "hit":
      total += 1.0 if sum(res) > 0 else 0.0
    else:
      total += sum(r / math.log(i + 2, 2) for i, r in enumerate(res))
  return total / len(results)


def test_matches_peer_evaluator_on_the_same_predictions():
  rng = np.random.default_rng(0)
  users, k, n_items = 200, 10, 40
  outputs, scores, targets, ours = [], [], [], []
  for _ in range(users):
    items = rng.choice(n_items, k, replace=False)
    s = np.sort(rng.normal(size=k))[::-1]
    order = rng.permutation(k)  # Peers receive beams in any order and sort by score.
    outputs += [f"<a_{i}>" for i in items[order]]
    scores += s[order].tolist()
    targets.append(f"<a_{rng.integers(n_items)}>")
    ours.append([f"<a_{i}>" for i in items])
  peer = _peer_topk_results(outputs, scores, targets, k)
  m = evaluate.ranking_metrics(evaluate.target_ranks(ours, targets))
  for ours_key, peer_key in [("HR@1", "hit@1"), ("HR@5", "hit@5"), ("HR@10", "hit@10"),
                             ("NDCG@5", "ndcg@5"), ("NDCG@10", "ndcg@10")]:
    assert m[ours_key] == pytest.approx(_peer_metrics(peer, peer_key), abs=1e-12), ours_key
  assert 0 < m["HR@10"] < 1


def test_text_and_tag_scores():
  assert evaluate.normalize_text("  The Blue, Lamp!! ") == "the blue lamp"
  assert evaluate.token_f1("blue lamp", "The blue desk lamp") == pytest.approx(2 * 1 * 0.5 / 1.5)
  assert evaluate.token_f1("", "") == 1.0 and evaluate.token_f1("x", "") == 0.0
  s = evaluate.title_scores(["Blue Lamp.", "red scale"], ["blue lamp", "digital scale"])
  assert s["exact_match"] == 0.5 and s["token_f1"] == pytest.approx((1 + 0.5) / 2)
  assert evaluate.tag_f1("home science, Lab work", "lab work, cooking") == pytest.approx(0.5)
  t = evaluate.tag_scores(["a, b", "c"], ["b, a", "d"])
  assert t["tag_f1"] == 0.5 and t["exact_match"] == 0.5


def test_tsne_separates_clusters_and_pca_fallback(tmp_path):
  rng = np.random.default_rng(0)
  labels = np.repeat(np.arange(4), 30)
  x = rng.normal(size=[4, 20])[labels] * 4 + rng.normal(size=[120, 20])
  info = eval_plots.embedding_plot(x, labels, str(tmp_path / "t.png"), "clusters", iters=300)
  assert info["knn_agreement"] > 0.9 and (tmp_path / "t.png").stat().st_size > 1000
  info = eval_plots.embedding_plot(x, labels, str(tmp_path / "p.png"), "clusters", method="pca")
  assert info["method"] == "pca" and info["knn_agreement"] > 0.9


# ----------------------------------------------------------------------------- end to end


def copy_recommender(data_dir, method, **kwargs):
  vocab_dir = vocab_lib.build_vocabulary(data_dir, method, sp_vocab_size=200)
  vocab = vocab_lib.load_vocabulary(vocab_dir)
  sid_len = len(next(iter(recommend.read_sid_strings(data_dir, method).values())).popitem()[1]
                .split("><"))
  model = toy_seq2seq.CopyLastItemModel(vocab.vocab_size, sid_len)
  run_info = {"data_dir": data_dir, "dataset_name": "copy", "method": method, "tokenizer_run": method,
              "vocab_dir": vocab_dir, "task_feature_lengths": {"inputs": 128, "targets": 12}}
  kwargs.setdefault("progress", False)
  return recommend.Recommender(model, model.init(), run_info, **kwargs)


def test_end_to_end_tiger_with_baselines(copy_dataset, tmp_path):
  rec = copy_recommender(copy_dataset, "tiger", beam_size=8, top_k=5, batch_size=4)
  out = str(tmp_path / "eval")
  report = evaluate.evaluate(rec, "test", baselines=("popularity", "sasrec"), out_dir=out,
                             tsne_method="none", gen_tasks=False,
                             sasrec_config=sasrec.SASRecConfig(epochs=1, hidden=8, max_len=8, num_blocks=1,
                                                                      dropout=0.0))
  evaluate.write_report(report, out)
  tiger = report["systems"]["tiger"]
  assert tiger["HR@1"] == pytest.approx(0.5) and tiger["n"] == 10  # The copied item is right for half.
  assert set(report["systems"]) == {"tiger", "popularity", "sasrec"}
  # Popularity = the same list for everyone; check it against a direct count.
  test = evaluate.split_examples(copy_dataset, "test")
  from gr_jax import baselines  # pylint: disable=g-import-not-at-top
  from gr_jax.baselines import popularity  # pylint: disable=g-import-not-at-top
  top = popularity.Popularity(rec.item_ids).fit(baselines.train_sequences(copy_dataset)).ranking()[:5]
  hits = np.mean([rec.item_index[ex.target] in top[:5] for ex in test])
  assert report["systems"]["popularity"]["HR@5"] == pytest.approx(hits)
  saved = json.load(open(os.path.join(out, "report.json")))
  assert saved["systems"]["tiger"]["HR@1"] == pytest.approx(0.5)
  md = open(os.path.join(out, "report.md")).read()
  assert "| tiger | 0.5000 |" in md and "| popularity |" in md
  # Paired differences: the system against each baseline on the same users, nothing else.
  assert set(saved["paired"]) == {"tiger"} and set(saved["paired"]["tiger"]) == {"popularity", "sasrec"}
  d = saved["paired"]["tiger"]["popularity"]["HR@10"]
  assert d["n"] == 10 and d["diff"] == pytest.approx(tiger["HR@10"] - report["systems"]["popularity"]["HR@10"])
  assert "| tiger | popularity | " in md and "Paired differences" in md
  assert os.path.getsize(os.path.join(out, "metric_vs_k.png")) > 1000
  assert os.path.exists(os.path.join(out, "baselines", "sasrec.msgpack"))


def test_end_to_end_macrec_ensemble_and_sid_tasks(copy_dataset):
  rec = copy_recommender(copy_dataset, "macrec", beam_size=6, top_k=4, batch_size=5)
  report = evaluate.evaluate(rec, "test", baselines=(), max_gen_examples=6, tsne_method="none")
  systems = report["systems"]
  assert set(systems) == {"macrec:seqrec_text", "macrec:seqrec_image", "macrec:ensemble"}
  for m in systems.values():
    assert m["HR@1"] == pytest.approx(0.5)
  gen = report["generation"]
  assert {"text2image", "image2text"} <= set(gen)
  assert gen["text2image"]["modality"] == "image" and gen["image2text"]["modality"] == "text"
  assert gen["text2image"]["n"] == 6


def test_end_to_end_trialign_text_tasks_and_tsne(copy_dataset, tmp_path):
  rec = copy_recommender(copy_dataset, "trialign", beam_size=4, top_k=4, batch_size=4)
  sids = recommend.read_sid_strings(copy_dataset, "trialign")["fused"]
  ids = list(rec.item_ids)
  first = np.array([int(sids[i].split("_")[1].split(">")[0]) for i in ids])
  emb = np.eye(8)[first % 8] * 3 + np.random.default_rng(0).normal(size=[len(ids), 8]) * 0.1
  os.makedirs(os.path.join(copy_dataset, "embeddings"), exist_ok=True)
  np.save(os.path.join(copy_dataset, "embeddings", "fused.npy"), emb.astype(np.float32))
  with open(os.path.join(copy_dataset, "embeddings", "ids.txt"), "w") as f:
    f.write("\n".join(ids) + "\n")
  out = str(tmp_path / "eval")
  report = evaluate.evaluate(rec, "valid", baselines=(), max_gen_examples=3, out_dir=out,
                             tsne_method="pca")
  gen = report["generation"]
  for task in ("seqrec_title", "sid2title", "visdesc2title"):
    assert 0.0 <= gen[task]["token_f1"] <= 1.0 and gen[task]["n"] == 3
    assert len(gen[task]["examples"]) == 3
  assert 0.0 <= gen["sid2interest"]["tag_f1"] <= 1.0
  for task in ("title2sid", "content2sid", "visdesc2sid"):
    assert gen[task]["modality"] == "fused" and "HR@1" in gen[task]
  assert report["tsne"]["fused"]["knn_agreement"] > 0.9
  assert os.path.getsize(os.path.join(out, "tsne_fused.png")) > 1000
  assert report["systems"]["trialign"]["n"] == 10
  md = evaluate.markdown_report(report)
  assert "| sid2title | token_f1 |" in md and "| visdesc2sid | HR@1 |" in md
  assert "memorised" in md  # Item-level scores are labelled as catalog memorisation.


@pytest.mark.slow
def test_trained_t5_evaluate_and_recommend_commands(tmp_path, capsys):
  """Trains a tiny TIGER T5 with gr_jax.train, then runs `gr-jax evaluate` and `gr-jax recommend`."""
  from gr_jax import cli  # pylint: disable=g-import-not-at-top
  from gr_jax import train  # pylint: disable=g-import-not-at-top
  from gr_jax.model import t5  # pylint: disable=g-import-not-at-top
  data_dir, model_dir = str(tmp_path / "ds"), str(tmp_path / "model")
  os.makedirs(data_dir)
  seqs = testing.make_dataset(data_dir, n_users=16, seq_len=(5, 8))
  cfg = t5.T5Config(emb_dim=32, num_heads=2, head_dim=16, mlp_dim=64, num_encoder_layers=1,
                    num_decoder_layers=1, dropout_rate=0.0)
  train.train(model_dir, 150, {"inputs": 96, "targets": 8}, data_dir=data_dir, method="tiger",
              batch_size=16, model_config=cfg, eval_period=1000, checkpoint_period=150,
              register_kwargs={"sp_vocab_size": 200}, progress=False)
  out = str(tmp_path / "eval")
  assert cli.main(["evaluate", "--model_dir", model_dir, "--out_dir", out, "--beam_size", "10",
                   "--top_k", "5", "--batch_size", "8", "--sasrec_epochs", "3",
                   "--tsne", "none"]) == 0
  report = json.load(open(os.path.join(out, "report.json")))
  assert report["systems"]["tiger"]["n"] == 16
  assert set(report["systems"]) == {"tiger", "popularity", "sasrec"}
  user = sorted(seqs)[0]
  capsys.readouterr()
  assert cli.main(["recommend", "--model_dir", model_dir, "--history", ",".join(seqs[user][:-1]),
                   "-k", "5", "--json"]) == 0
  rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
  items = {it.item_id for it in schema.read_items(data_dir)}
  assert len(rows) == 5 and all(r["item_id"] in items for r in rows)
  assert len({r["item_id"] for r in rows}) == 5
  assert all(a["score"] >= b["score"] for a, b in zip(rows, rows[1:]))
