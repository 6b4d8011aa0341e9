"""T5X inference eval of the seqrec tasks: HR@K / NDCG@K as `gr-jax evaluate` computes them.

Without T5X: a `seqio.Evaluator` over a seqrec task, fed beams the way T5X's
`predict_batch` returns them with `return_all_decodes` (the decode fn of
gin/t5x/common.gin under T5X's calling convention), logs the metrics that
`gr_jax.evaluate.evaluate` reports for the same model and split. With T5X: the
card's command trains, checkpoints and logs them, and `gr_jax.evaluate` on that
checkpoint's parameters gives the same numbers.
"""

import glob
import json
import os
import random
import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import seqio

from gr_jax import decoding
from gr_jax import evaluate
from gr_jax import recommend
from gr_jax import t5x_gin
import gr_jax_tasks
from gr_jax_tasks import testing

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import toy_seq2seq  # pylint: disable=g-import-not-at-top,wrong-import-position

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
METRICS = ("HR@1", "HR@5", "HR@10", "NDCG@5", "NDCG@10", "MRR")
LENGTHS = {"inputs": 48, "targets": 4}  # SIDs of 3 tokens + eos.
BEAM = 20


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
  """A tiny TIGER dataset: 40 items, 30 users whose histories and targets come from 16 of them.

  make_dataset's own users end on items no training example has (to catch leakage), which a
  trained model ranks last; these users' targets are items training sees.
  """
  d = str(tmp_path_factory.mktemp("t5xeval") / "evalds")
  testing.make_dataset(d, n_users=12, n_shared_items=16)
  rng = random.Random(1)
  testing.write_splits(d, {f"u{u:03d}": [f"i{rng.randrange(16):03d}" for _ in range(rng.randint(6, 9))]
                           for u in range(30)})
  return d


def t5x_predict_fn(model, params, trie, eos_id, batch_size=8):
  """A seqio predict_fn returning what T5X's predict_batch returns with return_all_decodes:
  per example [BEAM, targets] tokens, best beam last (the decode fn called as T5X calls it)."""

  @jax.jit
  def decode(enc):
    ttl, cache = model.make_decoding_fns(params, enc, 1, LENGTHS["targets"])
    seqs, _ = decoding.t5x_constrained_beam_search(
        jnp.zeros([enc.shape[0], LENGTHS["targets"]], jnp.int32), cache,
        lambda state: ttl(state.cur_token, state.cache), eos_id, BEAM, trie=trie)
    return seqs

  def predict_fn(ds):
    out = []
    for idx, ex in ds.batch(batch_size).as_numpy_iterator():
      out += list(zip(idx.tolist(), np.asarray(decode(jnp.asarray(ex["encoder_input_tokens"])))))
    return out

  return predict_fn


def test_seqio_eval_of_t5x_beams_matches_gr_jax_evaluate(dataset, tmp_path):
  ds = t5x_gin.Dataset(dataset, "tiger")
  task = t5x_gin.seqrec_name(ds)
  assert task == "tiger_evalds_seqrec"
  assert seqio.get_mixture_or_task(task).metric_fns == [evaluate.sid_beam_metrics]
  vocab = t5x_gin.vocabulary(ds)
  model = toy_seq2seq.ToySeq2Seq(vocab.vocab_size)
  params = model.init(seed=5)

  log_dir = str(tmp_path / "inference_eval")
  os.makedirs(log_dir)
  evaluator = seqio.Evaluator(
      mixture_or_task_name=task, feature_converter=seqio.EncDecFeatureConverter(pack=False),
      eval_split="validation", sequence_length=LENGTHS, log_dir=log_dir,
      logger_cls=[seqio.JSONLogger])
  metrics, _ = evaluator.evaluate(
      compute_metrics=True, step=7,
      predict_fn=t5x_predict_fn(model, params, t5x_gin.sid_trie(ds), vocab.eos_id))
  seqio_metrics = metrics.result()[task]

  run_info = {"data_dir": dataset, "method": "tiger", "tokenizer_run": "tiger",
              "task_feature_lengths": LENGTHS}
  rec = recommend.Recommender(model, params, run_info, beam_size=BEAM, top_k=10, batch_size=8,
                              progress=False)
  report = evaluate.evaluate(rec, "validation", baselines=(), gen_tasks=False, tsne_method="none")
  ours = report["systems"]["tiger"]
  assert ours["n"] == 30
  for key in METRICS:
    assert seqio_metrics[key] == pytest.approx(ours[key], abs=1e-12), key
  assert 0 < ours["HR@10"] < 1  # A real ranking, not all hits or all misses.
  # JSONLogger: one line per eval step with every metric (what a T5X run writes).
  (line,) = open(os.path.join(log_dir, f"{task}-metrics.jsonl")).read().splitlines()
  logged = json.loads(line)
  assert logged["step"] == 7 and logged["HR@10"] == pytest.approx(ours["HR@10"])


@pytest.mark.slow  # ~45 s of CPU: T5X's import, compile, 30 steps, one inference eval.
def test_card_command_trains_checkpoints_and_logs_what_gr_jax_evaluate_reports(dataset, tmp_path):
  """`python -m t5x.train --gin_file=gin/tiger.gin` (tiny model, few steps) writes a checkpoint
  and inference-eval HR@K / NDCG@K; gr_jax.evaluate on that checkpoint gives the same numbers."""
  pytest.importorskip("t5x")
  import gin  # pylint: disable=g-import-not-at-top
  import orbax.checkpoint as ocp  # pylint: disable=g-import-not-at-top
  from gr_jax.model import models  # pylint: disable=g-import-not-at-top
  from gr_jax.model import t5  # pylint: disable=g-import-not-at-top
  model_dir, steps = str(tmp_path / "t5x_tiger"), 30
  cmd = [sys.executable, "-m", "t5x.train", "--gin_file=gin/tiger.gin",
         "--gin_file=gin/models/tiny.gin", f"--gin.MODEL_DIR='{model_dir}'",
         f"--gin.DATA_DIR='{dataset}'", f"--gin.TRAIN_STEPS={steps}", f"--gin.EVAL_PERIOD={steps}",
         f"--gin.CHECKPOINT_PERIOD={steps}", "--gin.BATCH_SIZE=8", "--gin.EVAL_BATCH_SIZE=8",
         "--gin.EVAL_STEPS=1", f"--gin.TASK_FEATURE_LENGTHS={LENGTHS}",
         "--gin.utils.create_learning_rate_scheduler.warmup_steps=10",
         "--gin.__main__.train.random_seed=0", "--gin.train/utils.DatasetConfig.seed=0"]
  out = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=900,
                       env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3"))
  assert out.returncode == 0, out.stderr[-4000:]
  task = "tiger_evalds_seqrec"
  assert f"{task}/HR@10 at step {steps}:" in out.stderr  # seqio.PyLoggingLogger.
  lines = open(os.path.join(model_dir, "inference_eval", f"{task}-metrics.jsonl")).read().splitlines()
  logged = json.loads(lines[-1])
  assert logged["step"] == steps and set(METRICS) <= set(logged)
  assert glob.glob(os.path.join(model_dir, "inference_eval", task, "events.out.tfevents.*"))

  params = ocp.PyTreeCheckpointer().restore(
      os.path.join(model_dir, f"checkpoint_{steps}", "state"))["target"]
  gin.clear_config()
  try:
    gin.parse_config_file(os.path.join(REPO, "gin", "models", "tiny.gin"))
    config = t5.T5Config(vocab_size=params["token_embedder"]["embedding"].shape[0])
  finally:
    gin.clear_config()
  run_info = {"data_dir": dataset, "method": "tiger", "tokenizer_run": "tiger",
              "task_feature_lengths": LENGTHS}
  rec = recommend.Recommender(models.EncoderDecoderModel(config), params, run_info,
                              beam_size=BEAM, top_k=10, batch_size=8, progress=False)
  ours = evaluate.evaluate(rec, "validation", baselines=(), gen_tasks=False,
                           tsne_method="none")["systems"]["tiger"]
  for key in METRICS:
    assert logged[key] == pytest.approx(ours[key], abs=1e-9), (key, logged, ours)
  assert ours["HR@10"] > 0 and ours["HR@1"] < 1  # A ranking that hits, not a trivial one.
