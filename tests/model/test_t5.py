"""Tests for gr_jax.model.t5: buckets, logical axes, masks/packing, tied/remat/bf16 variants."""

import functools
import math

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from gr_jax.model import t5

AXES = {"vocab", "embed", "heads", "kv", "mlp", "relpos_buckets"}


def tiny(**kw):
  base = dict(vocab_size=40, emb_dim=16, num_heads=2, head_dim=8, mlp_dim=32, num_encoder_layers=2,
              num_decoder_layers=2, dropout_rate=0.0)
  return t5.T5Config(**{**base, **kw})


def ref_bucket(rel, bidirectional, num_buckets=32, max_distance=128):
  """Mesh TensorFlow's T5 bucket, scalar version."""
  ret, n = 0, -rel
  if bidirectional:
    num_buckets //= 2
    ret += num_buckets if n < 0 else 0
    n = abs(n)
  else:
    n = max(n, 0)
  max_exact = num_buckets // 2
  if n < max_exact:
    return ret + n
  large = max_exact + int(math.log(n / max_exact) / math.log(max_distance / max_exact)
                          * (num_buckets - max_exact))
  return ret + min(large, num_buckets - 1)


@pytest.mark.parametrize("bidirectional", [True, False])
def test_relative_position_bucket_matches_reference(bidirectional):
  rel = np.arange(-300, 301)
  got = np.asarray(t5.relative_position_bucket(jnp.asarray(rel), bidirectional))
  want = np.array([ref_bucket(int(r), bidirectional) for r in rel])
  np.testing.assert_array_equal(got, want)
  assert got.max() == 31 and got.min() == 0


def batch(b=2, l=6, t=4, seed=0):
  rng = np.random.RandomState(seed)
  enc = rng.randint(2, 40, (b, l)).astype(np.int32)
  enc[0, l - 2:] = 0
  tgt = rng.randint(2, 40, (b, t)).astype(np.int32)
  dec = np.concatenate([np.zeros((b, 1), np.int32), tgt[:, :-1]], 1)
  return enc, dec, tgt


def test_every_param_has_logical_axes_and_t5x_names():
  cfg = tiny()
  enc, dec, tgt = batch()
  variables = jax.jit(functools.partial(t5.Transformer(cfg).init, enable_dropout=False))(
      jax.random.PRNGKey(0), enc, dec, tgt)
  leaves = jax.tree_util.tree_leaves_with_path(
      variables["params"], is_leaf=lambda x: isinstance(x, nn.LogicallyPartitioned))
  assert len(leaves) > 20
  for path, leaf in leaves:
    assert isinstance(leaf, nn.LogicallyPartitioned), path
    assert len(leaf.names) == leaf.value.ndim and set(leaf.names) <= AXES, (path, leaf.names)
  p = nn.meta.unbox(variables["params"])
  assert p["token_embedder"]["embedding"].shape == (40, 16)
  assert p["encoder"]["layers_0"]["attention"]["query"]["kernel"].shape == (16, 2, 8)
  assert p["decoder"]["layers_1"]["mlp"]["wi_1"]["kernel"].shape == (16, 32)
  assert p["decoder"]["relpos_bias"]["rel_embedding"].shape == (2, 32)
  assert "logits_dense" in p["decoder"]


def test_t5x_params_axes_collection():
  cfg = tiny(t5x_params_axes=True)
  enc, dec, tgt = batch()
  variables = jax.jit(functools.partial(t5.Transformer(cfg).init, enable_dropout=False))(
      jax.random.PRNGKey(0), enc, dec, tgt)
  flat_params = jax.tree_util.tree_leaves_with_path(variables["params"])
  assert all(isinstance(v, jax.Array) for _, v in flat_params)  # Unboxed, as T5X expects.
  axes = variables["params_axes"]
  assert tuple(axes["encoder"]["layers_0"]["mlp"]["wi_0"]["kernel_axes"].names) == ("embed", "mlp")
  assert tuple(axes["token_embedder"]["embedding_axes"].names) == ("vocab", "embed")


@pytest.mark.parametrize("num_in,out_shape", [(1, (7,)), (2, (7,)), (1, (3, 4))])
def test_dense_custom_vjp_equals_autodiff(num_in, out_shape):
  rng = np.random.RandomState(0)
  x = jnp.asarray(rng.randn(2, 3, 4, 5), jnp.float32)
  kernel = jnp.asarray(rng.randn(*x.shape[x.ndim - num_in:], *out_shape), jnp.float32)
  lead = x.ndim - num_in
  plain = lambda x, k: jax.lax.dot_general(
      x, k, ((tuple(range(lead, x.ndim)), tuple(range(num_in))), ((), ())))
  loss = lambda f: lambda x, k: jnp.sum(jnp.sin(f(x, k)))
  custom = lambda x, k: t5._dense(x, k, num_in)  # pylint: disable=protected-access
  np.testing.assert_allclose(custom(x, kernel), plain(x, kernel), rtol=1e-6)
  got = jax.grad(loss(custom), (0, 1))(x, kernel)
  want = jax.grad(loss(plain), (0, 1))(x, kernel)
  for g, w in zip(got, want):
    assert g.shape == w.shape
    np.testing.assert_allclose(g, w, rtol=1e-5, atol=1e-5)


@functools.partial(jax.jit, static_argnums=0)
def _apply(cfg, params, enc, dec, tgt, enc_seg, dec_seg):
  return t5.Transformer(cfg).apply({"params": params}, enc, dec, tgt, enable_dropout=False,
                                   encoder_segment_ids=enc_seg, decoder_segment_ids=dec_seg)


def apply(cfg, params, enc, dec, tgt, encoder_segment_ids=None, decoder_segment_ids=None):
  return _apply(cfg, params, enc, dec, tgt, encoder_segment_ids, decoder_segment_ids)


@functools.partial(jax.jit, static_argnums=0)
def _init(cfg, rng, enc, dec, tgt):
  return nn.meta.unbox(t5.Transformer(cfg).init(rng, enc, dec, tgt, enable_dropout=False)["params"])


def init(cfg, seed=0):
  enc, dec, tgt = batch()
  return _init(cfg, jax.random.PRNGKey(seed), enc, dec, tgt)


def test_padding_does_not_change_logits_of_real_tokens():
  cfg = tiny()
  params = init(cfg)
  enc, dec, tgt = batch(b=1, l=6, t=4)
  enc[0, 4:] = 0
  base = apply(cfg, params, enc, dec, tgt)
  longer_enc = np.concatenate([enc, np.zeros((1, 5), np.int32)], 1)
  longer_tgt = np.concatenate([tgt, np.zeros((1, 3), np.int32)], 1)
  longer_dec = np.concatenate([dec, np.zeros((1, 3), np.int32)], 1)
  out = apply(cfg, params, longer_enc, longer_dec, longer_tgt)
  np.testing.assert_allclose(out[:, :4], base, atol=1e-5)


def test_packed_segments_equal_separate_examples():
  cfg = tiny()
  params = init(cfg)
  enc, dec, tgt = batch(b=2, l=5, t=3, seed=3)
  enc[:] = np.maximum(enc, 2)
  separate = apply(cfg, params, enc, dec, tgt)
  packed = apply(cfg, params, enc.reshape(1, -1), dec.reshape(1, -1), tgt.reshape(1, -1),
                 encoder_segment_ids=np.repeat([[1, 2]], 5, 1), decoder_segment_ids=np.repeat(
                     [[1, 2]], 3, 1))
  np.testing.assert_allclose(packed.reshape(2, 3, -1), separate, atol=1e-5)


def test_tied_embeddings_have_no_logits_dense_and_scale_by_sqrt_d():
  cfg = tiny(logits_via_embedding=True)
  params = init(cfg)
  assert "logits_dense" not in params["decoder"]
  enc, dec, tgt = batch()
  logits = apply(cfg, params, enc, dec, tgt)
  assert logits.shape == (2, 4, 40) and logits.dtype == jnp.float32


def test_remat_and_bf16_variants():
  enc, dec, tgt = batch()
  params = init(tiny())
  ref = apply(tiny(), params, enc, dec, tgt)
  np.testing.assert_allclose(apply(tiny(remat=True), params, enc, dec, tgt), ref, atol=1e-5)
  bf16 = apply(tiny(dtype="bfloat16"), params, enc, dec, tgt)
  assert bf16.dtype == jnp.float32  # Logits stay float32.
  assert float(jnp.max(jnp.abs(bf16 - ref))) < 0.2


def test_dropout_only_with_enable_dropout():
  cfg = tiny(dropout_rate=0.5)
  params = init(cfg)
  enc, dec, tgt = batch()
  m = t5.Transformer(cfg)
  run = jax.jit(lambda rng, on: m.apply({"params": params}, enc, dec, tgt, enable_dropout=on,
                                        rngs={"dropout": rng}), static_argnums=1)
  a = run(jax.random.PRNGKey(0), False)
  b = run(jax.random.PRNGKey(1), False)
  c = run(jax.random.PRNGKey(1), True)
  np.testing.assert_array_equal(a, b)
  assert float(jnp.max(jnp.abs(a - c))) > 1e-3


def test_config_validation_and_round_trip():
  with pytest.raises(ValueError, match="activation"):
    t5.T5Config(mlp_activations=("gelu", "tanhh"))
  cfg = tiny(mlp_activations=["relu"])
  assert t5.T5Config.from_dict(cfg.to_dict()) == cfg
  params = init(cfg)
  assert "wi" in params["encoder"]["layers_0"]["mlp"]  # Ungated MLP (T5 1.0 naming).


def test_positions_from_end_counts_to_each_input_end():
  tokens = np.array([[5, 6, 7, 1, 0, 0], [4, 1, 9, 9, 1, 0]], np.int32)
  np.testing.assert_array_equal(t5.positions_from_end(jnp.asarray(tokens)),
                                [[3, 2, 1, 0, 0, 0], [4, 3, 2, 1, 0, 0]])
  seg = np.array([[1, 1, 1, 1, 0, 0], [1, 1, 2, 2, 2, 0]], np.int32)
  np.testing.assert_array_equal(t5.positions_from_end(jnp.asarray(tokens), jnp.asarray(seg)),
                                [[3, 2, 1, 0, 0, 0], [1, 0, 2, 1, 0, 0]])


def test_end_position_embedding_marks_recency_and_keeps_padding_and_packing_exact():
  cfg = tiny(encoder_end_positions=4)
  params = init(cfg)
  table = params["encoder"]["end_position_embedding"]
  assert table.shape == (4, 16)
  assert "end_position_embedding" not in init(tiny())["encoder"]  # Off by default (T5).
  enc, dec, tgt = batch(b=1, l=6, t=4)
  enc[0, 4:] = 0
  base = apply(cfg, params, enc, dec, tgt)
  # Right padding does not move a token's distance from the end.
  longer = apply(cfg, params, np.concatenate([enc, np.zeros((1, 5), np.int32)], 1), dec, tgt)
  np.testing.assert_allclose(longer, base, atol=1e-5)
  # The table is read: a zero table gives exactly the model without one, the random one differs.
  zeroed_enc = {**params["encoder"], "end_position_embedding": jnp.zeros_like(table)}
  zeroed = apply(cfg, {**params, "encoder": zeroed_enc}, enc, dec, tgt)
  assert float(jnp.max(jnp.abs(zeroed - base))) > 1e-3
  without = {k: v for k, v in zeroed_enc.items() if k != "end_position_embedding"}
  np.testing.assert_allclose(apply(tiny(), {**params, "encoder": without}, enc, dec, tgt),
                             zeroed, atol=1e-6)
  # Packing: each packed input counts to its own end, as if it were alone.
  enc2, dec2, tgt2 = batch(b=2, l=5, t=3, seed=3)
  enc2[:] = np.maximum(enc2, 2)
  separate = apply(cfg, params, enc2, dec2, tgt2)
  packed = apply(cfg, params, enc2.reshape(1, -1), dec2.reshape(1, -1), tgt2.reshape(1, -1),
                 encoder_segment_ids=np.repeat([[1, 2]], 5, 1),
                 decoder_segment_ids=np.repeat([[1, 2]], 3, 1))
  np.testing.assert_allclose(packed.reshape(2, 3, -1), separate, atol=1e-5)
  with pytest.raises(ValueError, match="encoder_end_positions"):
    t5.T5Config(encoder_end_positions=-1)
