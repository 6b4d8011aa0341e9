"""Tests of gr_jax.reports.results_table: collecting run reports into one table, Markdown and plots."""

import json
import os

from PIL import Image

from gr_jax.reports import results_table


def _write(path, obj):
  os.makedirs(os.path.dirname(path), exist_ok=True)
  with open(path, "w") as f:
    json.dump(obj, f)


def _metrics(hr10):
  return {"HR@1": hr10 / 4, "HR@5": hr10 / 2, "HR@10": hr10, "NDCG@5": hr10 / 3, "NDCG@10": hr10 / 2.5}


def _fake_demo(out):
  runs, data = os.path.join(out, "runs"), os.path.join(out, "data")
  _write(os.path.join(runs, "tiger", "eval", "test", "report.json"),
         {"systems": {"tiger": _metrics(0.2), "popularity": _metrics(0.05), "sasrec": _metrics(0.1),
                      "markov": _metrics(0.15)}})
  _write(os.path.join(runs, "tiger", "run_info.json"), {"train_time_s": 61.0})
  _write(os.path.join(data, "tokenizer", "tiger", "sid_report.json"),
         {"modalities": {"text": {"collision_rate_before": 0.1, "collision_rate_after": 0.0}}})
  _write(os.path.join(runs, "macrec", "eval", "test", "report.json"),
         {"systems": {"macrec:seqrec_text": _metrics(0.22), "macrec:seqrec_image": _metrics(0.18),
                      "macrec:ensemble": _metrics(0.25)}})
  _write(os.path.join(runs, "macrec", "run_info.json"), {"train_time_s": 90.0})
  _write(os.path.join(data, "tokenizer", "macrec", "sid_report.json"),
         {"modalities": {"text": {"collision_rate_before": 0.2, "collision_rate_after": 0.0},
                         "image": {"collision_rate_before": 0.4, "collision_rate_after": 0.0}}})


def test_collect_orders_baselines_first_and_labels_macrec_parts(tmp_path):
  out = str(tmp_path)
  _fake_demo(out)
  res = results_table.collect(out, ["tiger", "macrec"], {"prepare": 1.5})
  names = [r["system"] for r in res["rows"]]
  assert names == ["Most-popular", "Markov (category)", "SASRec", "TIGER", "MACRec (seqrec_text)",
                   "MACRec (seqrec_image)", "MACRec"]
  macrec = res["rows"][-1]
  assert macrec["HR@10"] == 0.25 and macrec["train_seconds"] == 90.0
  # Collision rates are averaged over MACRec's two modalities.
  assert abs(macrec["collision_rate_before"] - 0.3) < 1e-9 and macrec["collision_rate"] == 0.0
  assert res["rows"][0]["collision_rate"] is None and res["stage_seconds"] == {"prepare": 1.5}


def test_markdown_and_report_files(tmp_path):
  out = str(tmp_path)
  _fake_demo(out)
  res = results_table.collect(out, ["tiger", "macrec"])
  md = results_table.markdown(res)
  lines = md.strip().splitlines()
  assert lines[0].startswith("| system | HR@1 | HR@5 | HR@10 | NDCG@5 | NDCG@10 |")
  assert len(lines) == 2 + len(res["rows"])
  tiger = next(l for l in lines if l.startswith("| TIGER |"))
  assert "0.2000" in tiger and "10.0% → 0.0%" in tiger and "61 s" in tiger
  results_table.write(out, res)
  assert json.load(open(os.path.join(out, results_table.REPORT_JSON)))["rows"][3]["system"] == "TIGER"
  assert "| MACRec |" in open(os.path.join(out, results_table.REPORT_MD)).read()
  with Image.open(os.path.join(out, "results.png")) as img:
    assert img.format == "PNG" and img.size[0] > 300


def test_missing_reports_give_empty_rows_not_errors(tmp_path):
  res = results_table.collect(str(tmp_path), ["tiger"])
  assert res["rows"] == []
  assert results_table.collision_rate(None) is None
  assert results_table.collision_rate({"modalities": {"text": {}}}) is None


def test_the_synthetic_ceilings_join_the_report_beside_the_best_system(tmp_path):
  from gr_jax import io_utils
  from gr_jax.data import layout
  out = str(tmp_path)
  cell = lambda hr: {"n": 1000, **{f"HR@{k}": hr * k / 10 for k in (1, 5, 10)},
                     **{f"HR@{k}_se": 0.01 for k in (1, 5, 10)}}
  io_utils.atomic_write_json(layout.ceiling_path(os.path.join(out, "data")), {
      "split": "test", "samples": 512,
      "ceilings": {"markov": cell(0.2), "full": cell(0.39), "history": cell(0.32)}})
  results = results_table.collect(out, [])
  results["rows"] = [results_table.row("SASRec", {"HR@1": 0.03, "HR@5": 0.12, "HR@10": 0.2})]
  table = results_table.ceiling_markdown(results).splitlines()
  # Most informed first; no row for a mode that was not computed.
  assert [line.split(" | ")[0] for line in table[2:5]] == [
      "| each user's hidden taste known (Bayes ceiling)",
      "| taste inferred from the history (all tastes)",
      "| category process + popularity, no per-user taste"]
  assert "0.390 ± 0.010" in table[2] and table[-1].startswith("| *best system above: SASRec*")
  results_table.write(out, results)
  assert "## How far from what the data allow" in open(os.path.join(out, "report.md")).read()
  assert results_table.ceiling_markdown({"rows": []}) == ""  # Real data: no section.


def test_rows_are_paired_with_the_baselines_on_the_same_users_only(tmp_path):
  out = str(tmp_path)
  runs = os.path.join(out, "runs")
  # 4 users; HR@10 per user: tiger [1, 1, 0, 1], sasrec [1, 0, 0, 0], markov [1, 1, 0, 0].
  _write(os.path.join(runs, "tiger", "eval", "test", "report.json"),
         {"systems": {"tiger": _metrics(0.75), "sasrec": _metrics(0.25), "markov": _metrics(0.5)},
          "users_digest": "abc", "ranks": {"tiger": [0, 3, -1, 9], "sasrec": [2, -1, 12, -1],
                                           "markov": [1, 1, -1, -1]}})
  _write(os.path.join(runs, "macrec", "eval", "test", "report.json"),  # Other users: not paired.
         {"systems": {"macrec:ensemble": _metrics(0.5)}, "users_digest": "zzz",
          "ranks": {"macrec:ensemble": [0, 0, 0, 0]}})
  res = results_table.collect(out, ["tiger", "macrec"])
  rows = {r["system"]: r for r in res["rows"]}
  tiger = rows["TIGER"]["paired"]
  assert tiger["sasrec"]["HR@10"]["diff"] == 0.5 and tiger["markov"]["HR@10"]["diff"] == 0.25
  assert tiger["sasrec"]["HR@10"]["n"] == 4 and tiger["sasrec"]["HR@10"]["se"] > 0
  assert "paired" not in rows["MACRec"] and "paired" not in rows["SASRec"]
  md = results_table.markdown(res)
  assert "Δ HR@10 vs SASRec (paired) | Δ HR@10 vs Markov (category) (paired) |" in md
  line = next(l for l in md.splitlines() if l.startswith("| TIGER |"))
  assert line.endswith("+0.500 ± 0.289 | +0.250 ± 0.250 |"), line
  assert next(l for l in md.splitlines() if l.startswith("| MACRec |")).endswith("– | – |")
