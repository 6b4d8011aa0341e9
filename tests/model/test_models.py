"""Tests for gr_jax.model.models: loss normalisation (tokens vs per-sequence) on packed batches."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from gr_jax.model import models
from gr_jax.model import t5


def tiny_model(**kw):
  cfg = t5.T5Config(vocab_size=40, emb_dim=16, num_heads=2, head_dim=8, mlp_dim=32,
                    num_encoder_layers=1, num_decoder_layers=1, dropout_rate=0.0)
  return models.EncoderDecoderModel(cfg, z_loss=0.0, **kw)


def example_batch(lengths, enc_len=5, seed=0):
  """One unpacked row per example; example i has lengths[i] target tokens."""
  rng = np.random.default_rng(seed)
  t = max(lengths)
  tgt = np.zeros((len(lengths), t), np.int32)
  for i, n in enumerate(lengths):
    tgt[i, :n] = rng.integers(2, 40, n)
  dec = np.concatenate([np.zeros((len(lengths), 1), np.int32), tgt[:, :-1]], 1)
  enc = rng.integers(2, 40, (len(lengths), enc_len)).astype(np.int32)
  return {"encoder_input_tokens": enc, "decoder_input_tokens": dec, "decoder_target_tokens": tgt,
          "decoder_loss_weights": (tgt > 0).astype(np.int32)}


def test_per_sequence_weights_sum_to_one_per_row_and_per_segment():
  weights = np.array([[1, 1, 1, 1, 0, 0], [1, 1, 1, 1, 1, 1], [0, 0, 0, 0, 0, 0]], np.float32)
  out = np.asarray(models.per_sequence_weights(jnp.asarray(weights)))
  np.testing.assert_allclose(out.sum(1), [1.0, 1.0, 0.0], atol=1e-6)
  np.testing.assert_allclose(out[0], [0.25] * 4 + [0, 0], atol=1e-6)
  # Packed: a 1-token, a 2-token and a 3-token segment in one row, then padding.
  seg = np.array([[1, 2, 2, 3, 3, 3, 0]], np.int32)
  out = np.asarray(models.per_sequence_weights(jnp.asarray((seg > 0).astype(np.float32)),
                                               jnp.asarray(seg)))
  np.testing.assert_allclose(out[0], [1, .5, .5, 1 / 3, 1 / 3, 1 / 3, 0], atol=1e-6)
  assert out.sum() == pytest.approx(3.0)


def test_per_sequence_loss_is_mean_of_example_losses_packed_or_not():
  tokens_model = tiny_model()
  seq_model = tiny_model(loss_normalization="per_sequence")
  lengths = [1, 4, 2]
  batch = example_batch(lengths)
  params = tokens_model.init_params(jax.random.PRNGKey(0), encoder_length=5, decoder_length=4)
  example_losses = [float(tokens_model.loss_fn(params, {k: v[i:i + 1] for k, v in batch.items()},
                                               None)[0]) for i in range(len(lengths))]
  token_loss = float(tokens_model.loss_fn(params, batch, None)[0])
  seq_loss = float(seq_model.loss_fn(params, batch, None)[0])
  assert seq_loss == pytest.approx(np.mean(example_losses), rel=1e-5)
  assert token_loss == pytest.approx(np.dot(example_losses, lengths) / sum(lengths), rel=1e-5)
  assert abs(seq_loss - token_loss) > 1e-4  # The two normalisations really differ here.

  # The same three examples packed into one row (segments 1, 2, 3) give the same loss.
  enc, dec, tgt, enc_seg, dec_seg = [], [], [], [], []
  for i, n in enumerate(lengths):
    enc += list(batch["encoder_input_tokens"][i])
    enc_seg += [i + 1] * 5
    tgt += list(batch["decoder_target_tokens"][i, :n])
    dec += [0] + list(batch["decoder_target_tokens"][i, :n - 1])
    dec_seg += [i + 1] * n
  row = lambda xs: np.asarray([xs], np.int32)
  packed = {"encoder_input_tokens": row(enc), "decoder_input_tokens": row(dec),
            "decoder_target_tokens": row(tgt), "decoder_loss_weights": row([1] * len(tgt)),
            "encoder_segment_ids": row(enc_seg), "decoder_segment_ids": row(dec_seg),
            "encoder_positions": row([p for _ in lengths for p in range(5)]),
            "decoder_positions": row([p for n in lengths for p in range(n)])}
  packed_loss = float(seq_model.loss_fn(params, packed, None)[0])
  assert packed_loss == pytest.approx(seq_loss, rel=1e-4)


def test_loss_normalization_is_validated_and_saved_in_hparams():
  with pytest.raises(ValueError, match="loss_normalization"):
    tiny_model(loss_normalization="per_token")
  model = tiny_model(loss_normalization="per_sequence")
  assert model.hparams()["loss_normalization"] == "per_sequence"
  again = models.EncoderDecoderModel(model.config, **model.hparams())
  assert again.loss_normalization == "per_sequence"
