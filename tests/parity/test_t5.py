"""Parity of gr_jax's T5 training and decoding with HF T5 + torch AdamW (fast, tiny model).

Real data: seqrec examples of 300 Scientific users (../shared/data) with index-digit SIDs.
The full-size check is `benchmarks/parity.py` (slow test at the end).
"""

import os

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from gr_jax import train
from gr_jax.model import models
from gr_jax.model import t5
from gr_jax.parity import data
from gr_jax.parity import t5 as pt5

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

SIZES = [17, 17, 17]


@pytest.fixture(scope="module")
def examples(shared_data_dir):
  ds = data.load_dataset(os.path.join(shared_data_dir, "Scientific"), max_users=300)
  idx = np.arange(len(ds.texts))
  sids = data.sid_token_ids(np.stack([idx // 289, (idx // 17) % 17, idx % 17], 1), SIZES)
  return ds, sids, data.seqrec_examples(ds, sids, "train")


@pytest.fixture(scope="module")
def trained(examples):
  torch.set_num_threads(1)
  _, _, train_ex = examples
  model = pt5.make_model(data.vocab_size(SIZES), "tiny")
  params = model.init_params(jax.random.PRNGKey(0))
  order = data.batch_order(len(train_ex), 16, 50, seed=0)
  return model, pt5.train_parity(model, params, train_ex, order,
                                 pt5.OptimizerSettings(warmup_steps=5))


def test_train_parity_50_steps(trained):
  _, result = trained
  s = result.summary()
  assert pt5.check_train(s) is None, s
  assert s["last_loss"] < 0.8 * s["first_loss"]  # It trained.


def test_decode_parity_after_training(trained, examples):
  model, result = trained
  ds, sids, _ = examples
  test = data.seqrec_examples(ds, sids, "test")
  for include_eos in (True, False):
    d = pt5.decode_parity(model, result.params, result.hf_model, test.inputs[:24], sids, beam=8,
                          top_k=5, include_eos=include_eos, batch=24, hf_batch=8)
    assert pt5.check_decode(d, min_same=0.95) is None, d
    assert d["max_score_gap_matched"] < 1e-3


def test_uniform_label_smoothing_equals_torch():
  logits = jax.random.normal(jax.random.PRNGKey(0), (2, 3, 11)) * 3
  targets = jnp.array([[1, 4, 2], [7, 0, 3]])
  ours, _ = models.cross_entropy(logits, targets, label_smoothing=0.1,
                                 label_smoothing_style="uniform")
  ref = torch.nn.functional.cross_entropy(torch.from_numpy(np.asarray(logits)).reshape(-1, 11),
                                          torch.from_numpy(np.asarray(targets)).reshape(-1).long(),
                                          label_smoothing=0.1, reduction="none")
  np.testing.assert_allclose(np.asarray(ours).reshape(-1), ref.numpy(), rtol=1e-5)
  t5x, _ = models.cross_entropy(logits, targets, label_smoothing=0.1)
  assert not np.allclose(np.asarray(t5x), np.asarray(ours))
  with pytest.raises(ValueError, match="label_smoothing_style"):
    models.EncoderDecoderModel(t5.T5Config(vocab_size=8), label_smoothing_style="hf")


@pytest.mark.parametrize("schedule", ["cosine", "linear", "constant"])
def test_schedules_equal_transformers(schedule):
  _, lr_fn = train.make_optimizer(40, learning_rate=1e-3, schedule=schedule, warmup_steps=7)
  opt = torch.optim.AdamW([torch.nn.Parameter(torch.zeros(1))], lr=1e-3)
  fn = getattr(transformers, pt5._HF_SCHEDULES[schedule])  # pylint: disable=protected-access
  sched = fn(opt, 7) if schedule == "constant" else fn(opt, 7, 40)
  for step in range(40):
    np.testing.assert_allclose(float(lr_fn(step)), opt.param_groups[0]["lr"], rtol=1e-5,
                               atol=1e-10)
    opt.step()
    sched.step()


def test_decay_mask_is_the_trainers():
  from gr_jax.model import hf_convert  # pylint: disable=g-import-not-at-top
  model = pt5.make_model(128, "tiny")
  params = model.init_params(jax.random.PRNGKey(0))
  hf = hf_convert.to_hf_model(params, model.config)
  named = dict(hf.named_parameters())
  theirs = set(transformers.Trainer.get_decay_parameter_names(None, hf)) & set(named)
  assert theirs == {k for k, p in named.items()
                    if p.ndim > 1 and "relative_attention_bias" not in k}
  flat = lambda kind: {"/".join(str(getattr(k, "key", k)) for k in path): v for path, v in
                       jax.tree_util.tree_flatten_with_path(train.decay_mask_fn(kind)(params))[0]}
  hf_mask, ours = flat("hf_trainer"), flat("matrices")
  assert {k for k, v in hf_mask.items() if not v} == {
      k for k in hf_mask if "relpos_bias" in k or k.endswith("scale")}
  assert {k for k, v in ours.items() if not v} == {k for k in ours if k.endswith("scale")}
  with pytest.raises(ValueError, match="decay_mask"):
    train.make_optimizer(10, decay_mask="some")


def test_per_element_dropout_binding():
  cfg = t5.T5Config(vocab_size=16, emb_dim=8, num_heads=2, head_dim=4, mlp_dim=8,
                    num_encoder_layers=1, num_decoder_layers=1, dropout_rate=0.5)
  x = jnp.ones((1, 6, 8))
  shared = t5.MlpBlock(cfg).apply({"params": t5.MlpBlock(cfg).init(
      jax.random.PRNGKey(0), x)["params"]}, x, True, rngs={"dropout": jax.random.PRNGKey(1)})
  cfg_e = t5.T5Config.from_dict({**cfg.to_dict(), "dropout_broadcast_dims": []})
  assert cfg_e.dropout_broadcast_dims == ()
  mlp = t5.MlpBlock(cfg_e)
  each = mlp.apply({"params": mlp.init(jax.random.PRNGKey(0), x)["params"]}, x, True,
                   rngs={"dropout": jax.random.PRNGKey(1)})
  # T5X shares the mask across positions (equal rows for equal inputs); per element does not.
  assert np.allclose(shared[0, 0], shared[0, 1]) and not np.allclose(each[0, 0], each[0, 1])


@pytest.mark.slow
def test_full_parity_benchmark_on_scientific(shared_data_dir, tmp_path):
  import importlib.util  # pylint: disable=g-import-not-at-top
  path = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(
      __file__)))), "benchmarks", "parity.py")
  spec = importlib.util.spec_from_file_location("parity_benchmark", path)
  mod = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(mod)
  out = str(tmp_path / "parity.json")
  assert mod.main(["--data_dir", shared_data_dir, "--json", out]) == 0
