"""Tests for gr_jax.model.hf_convert: gr_jax <-> HF T5 weights, exact round trip, equal logits."""

import jax
import numpy as np
import pytest

from gr_jax.model import hf_convert
from gr_jax.model import models
from gr_jax.model import t5

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")


def tiny(**kw):
  return t5.T5Config(**{**dict(vocab_size=64, emb_dim=16, num_heads=2, head_dim=8, mlp_dim=24,
                               num_encoder_layers=2, num_decoder_layers=1, dropout_rate=0.0), **kw})


BATCH = dict(encoder_input_tokens=np.array([[5, 6, 7, 1, 0, 0], [8, 9, 10, 11, 12, 1]], np.int32),
             decoder_input_tokens=np.array([[0, 3, 4], [0, 5, 1]], np.int32),
             decoder_target_tokens=np.array([[3, 4, 1], [5, 1, 0]], np.int32))


@pytest.mark.parametrize("tied", [False, True])
def test_round_trip_is_exact_and_logits_agree(tied):
  cfg = tiny(logits_via_embedding=tied)
  model = models.EncoderDecoderModel(cfg, z_loss=0.0)
  params = model.init_params(jax.random.PRNGKey(1))
  hf = hf_convert.to_hf_model(params, cfg)
  back = hf_convert.from_hf_model(hf, cfg)
  assert jax.tree.structure(back) == jax.tree.structure(jax.device_get(params))
  for a, b in zip(jax.tree.leaves(params), jax.tree.leaves(back)):
    np.testing.assert_array_equal(np.asarray(a), b)
  logits = np.asarray(model.compute_logits(params, BATCH))
  x = torch.from_numpy(BATCH["encoder_input_tokens"].astype(np.int64))
  with torch.no_grad():
    out = hf(input_ids=x, attention_mask=(x > 0).long(),
             decoder_input_ids=torch.from_numpy(BATCH["decoder_input_tokens"].astype(np.int64)))
  ok = BATCH["decoder_target_tokens"] > 0
  np.testing.assert_allclose(out.logits.numpy()[ok], logits[ok], rtol=1e-4, atol=1e-5)
  # HF -> gr_jax from a model HF initialised itself (its own init scheme).
  fresh = hf_convert.to_hf_model(params, cfg)
  with torch.no_grad():
    for p in fresh.parameters():
      p.normal_(0.0, 0.3)
  theirs = hf_convert.from_hf_model(fresh, cfg)
  with torch.no_grad():
    ref = fresh(input_ids=x, attention_mask=(x > 0).long(), decoder_input_ids=torch.from_numpy(
        BATCH["decoder_input_tokens"].astype(np.int64))).logits.numpy()
  np.testing.assert_allclose(np.asarray(model.compute_logits(theirs, BATCH))[ok], ref[ok],
                             rtol=1e-4, atol=1e-4)


def test_missing_weight_is_named():
  cfg = tiny()
  params = models.EncoderDecoderModel(cfg).init_params(jax.random.PRNGKey(0))
  sd = hf_convert.hf_state_dict(params, cfg)
  del sd["decoder.block.0.layer.1.EncDecAttention.k.weight"]
  with pytest.raises(KeyError, match="EncDecAttention.k.weight"):
    hf_convert.params_from_hf_state_dict(sd, cfg)


def test_end_position_embedding_has_no_hf_counterpart():
  with pytest.raises(ValueError, match="encoder_end_positions"):
    hf_convert.hf_config_kwargs(tiny(encoder_end_positions=8))
