"""Tests of gr_jax.perf: analytic FLOP counts against XLA's, the peak, the share-of-peak arithmetic."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from gr_jax import perf
from gr_jax.encoders import bert
from gr_jax.model import models
from gr_jax.model import t5
from gr_jax.rqvae import nearest

# Matmuls dominate at these sizes; XLA also counts norms, softmax and activations (a few %).
TOL = (1.0, 1.08)


@pytest.fixture(scope="module")
def tiny():
  cfg = t5.T5Config(vocab_size=512, emb_dim=64, num_heads=4, head_dim=16, mlp_dim=256,
                    num_encoder_layers=2, num_decoder_layers=2, dropout_rate=0.0)
  model = models.EncoderDecoderModel(cfg)
  return cfg, model, model.init_params(jax.random.PRNGKey(0))


def _within(xla, analytic):
  assert TOL[0] * analytic <= xla <= TOL[1] * analytic, (xla, analytic, xla / analytic)


def test_hand_count_of_one_t5_layer():
  cfg = t5.T5Config(vocab_size=100, emb_dim=8, num_heads=2, head_dim=4, mlp_dim=16,
                    num_encoder_layers=1, num_decoder_layers=1)
  # q, k, v, o: 4 x 2*8*8; scores + values: 2 x 2*L*8; gated MLP: 3 x 2*8*16; L = 5 tokens.
  assert perf.t5_encoder_flops(cfg, 5) == 5 * (4 * 128 + 2 * 2 * 5 * 8 + 3 * 256)
  assert perf.t5_cross_kv_flops(cfg, 5) == 5 * 2 * 128
  # Self (q k v o + 3 keys), cross (q o + 5 keys), MLP, then logits 2*8*100.
  assert perf.t5_decoder_token_flops(cfg, 5, 3) == (
      4 * 128 + 2 * 2 * 3 * 8 + 2 * 128 + 2 * 2 * 5 * 8 + 3 * 256 + 1600)
  assert perf.t5_train_flops(cfg, 5, 2, batch=4) == 12 * perf.t5_forward_flops(cfg, 5, 2)


def test_t5_forward_and_encoder_match_xla(tiny):
  cfg, model, params = tiny
  b, inputs, targets = 2, 32, 8
  batch = {"encoder_input_tokens": jnp.ones((b, inputs), jnp.int32),
           "decoder_input_tokens": jnp.ones((b, targets), jnp.int32),
           "decoder_target_tokens": jnp.ones((b, targets), jnp.int32)}
  _within(perf.compiled_flops(model.compute_logits, params, batch),
          b * perf.t5_forward_flops(cfg, inputs, targets))
  _within(perf.compiled_flops(model.encode, params, batch["encoder_input_tokens"]),
          b * perf.t5_encoder_flops(cfg, inputs))


def test_t5_cached_decode_step_matches_xla(tiny):
  cfg, model, params = tiny
  b, inputs, max_len = 2, 32, 5

  def first_step(params, enc):  # Encoder + cross K/V + one cached step over max_len keys.
    tokens_to_logits, cache = model.make_decoding_fns(params, enc, 1, max_len)
    return tokens_to_logits(jnp.zeros((b, 1), jnp.int32), cache)[0]

  xla = perf.compiled_flops(first_step, params, jnp.ones((b, inputs), jnp.int32))
  analytic = b * (perf.t5_encoder_flops(cfg, inputs) + perf.t5_cross_kv_flops(cfg, inputs)
                  + perf.t5_decoder_token_flops(cfg, inputs, max_len))
  _within(xla, analytic)
  # The same total through t5_decode_flops with one step (one live beam).
  assert perf.t5_decode_flops(cfg, inputs, [1]) == pytest.approx(
      analytic / b - perf.t5_decoder_token_flops(cfg, inputs, max_len)
      + perf.t5_decoder_token_flops(cfg, inputs, 1))


def test_beam_schedule_counts_live_beams():
  sids = np.array([[0, 0, 0], [0, 0, 1], [0, 1, 0], [1, 0, 0], [2, 0, 0]])
  # Root; 3 first tokens; 4 two-token prefixes (capped by the beam); 5 items capped; eos step.
  assert perf.beam_schedule(4, sids) == [1, 3, 4, 4]
  assert perf.beam_schedule(10, sids) == [1, 3, 4, 5]
  cfg = t5.T5Config(vocab_size=100, emb_dim=8, num_heads=2, head_dim=4, mlp_dim=16,
                    num_encoder_layers=1, num_decoder_layers=1)
  total = perf.t5_decode_flops(cfg, 7, [1, 3])
  assert total == (perf.t5_encoder_flops(cfg, 7) + perf.t5_cross_kv_flops(cfg, 7)
                   + perf.t5_decoder_token_flops(cfg, 7, 1)
                   + 3 * perf.t5_decoder_token_flops(cfg, 7, 2))
  with pytest.raises(ValueError, match="non-empty"):
    perf.beam_schedule(4, np.zeros((0, 3)))


def test_bert_flops_match_xla():
  cfg = bert.BertConfig(vocab_size=128, hidden_size=128, num_hidden_layers=2,
                        num_attention_heads=4, intermediate_size=512, max_position_embeddings=64)
  module = bert.BertEncoder(cfg)
  ids = jnp.ones((3, 24), jnp.int32)
  params = module.init(jax.random.PRNGKey(0), ids, ids)
  xla = perf.compiled_flops(module.apply, params, ids, ids)
  analytic = perf.bert_flops(cfg, [24] * 3)
  # XLA counts the exact (erf) GELU at tens of FLOPs per element, and the LayerNorms.
  assert analytic <= xla <= 1.15 * analytic, (xla, analytic, xla / analytic)


def test_nearest_code_flops_match_xla():
  x = jnp.ones((512, 32), jnp.float32)
  books = [jnp.ones((256, 32), jnp.float32), jnp.ones((128, 32), jnp.float32)]
  xla = perf.compiled_flops(lambda x, b: nearest.residual_quantize(x, b)[0], x, books)
  analytic = perf.nearest_code_flops(512, 32, [256, 128])
  assert analytic == 2 * 512 * 32 * 384
  # The argmin passes over the scores add a few FLOPs per score (< 1 / (2 D) each).
  assert analytic <= xla <= 1.25 * analytic, (xla, analytic)


def test_peak_is_positive_and_share_arithmetic():
  peak = perf.matmul_peak_gflops(n=256, repeats=2)
  assert peak > 0.1
  report = perf.share_of_peak(2e9, 3.0, 12.0)  # 2 GFLOP per unit, 3 units/s: 6 GFLOP/s of 12.
  assert report == {"flops_per_unit": 2e9, "gflops": 6.0, "share_of_peak": 0.5}
  line = perf.format_share("gr_jax", report, "user")
  assert "2000.0 MFLOP/user" in line and "6.0 GFLOP/s" in line and "50.0% of peak" in line
  with pytest.raises(ValueError, match="positive"):
    perf.share_of_peak(1.0, 1.0, 0.0)
