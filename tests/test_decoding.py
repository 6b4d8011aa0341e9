"""Tests of gr_jax.decoding: trie, exact constrained beam search, text decoding, ensembles."""

import functools
import itertools
import json
import os
import subprocess
import sys
import textwrap

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from gr_jax import decoding
from gr_jax.model import models
from gr_jax.model import t5

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import toy_seq2seq  # pylint: disable=g-import-not-at-top,wrong-import-position

EOS = 1
FIRST_SID_ID = 10  # Vocab: 0 pad/start, 1 eos, 2..9 "text", then SID tokens level by level.


def random_sids(n, levels=3, codes=4, seed=0):
  """n unique SIDs as vocab ids; level l uses ids FIRST_SID_ID + l * codes + code."""
  rng = np.random.default_rng(seed)
  combos = np.array(list(itertools.product(range(codes), repeat=levels)))
  chosen = combos[rng.choice(len(combos), n, replace=False)]
  return FIRST_SID_ID + chosen + codes * np.arange(levels)[None, :]


def vocab_size(levels=3, codes=4):
  return FIRST_SID_ID + levels * codes


def teacher_scores(model, params, enc_BxT, sids_NxL):
  """[B, N] teacher-forced log p(SID + eos) of every item for every user."""
  n = sids_NxL.shape[0]
  targets = np.concatenate([sids_NxL, np.full([n, 1], EOS)], 1)
  out = []
  for row in np.asarray(enc_BxT):
    batch = toy_seq2seq.teacher_batch(np.repeat(row[None], n, 0), targets)
    out.append(np.asarray(model.score_batch(params, batch)))
  return np.stack(out)


def run_constrained(model, params, enc, trie, beam, top_k=None, include_eos=True):
  fn = decoding.make_sid_predict_fn(model, beam, top_k, include_eos=include_eos)
  return jax.tree_util.tree_map(np.asarray, fn(params, jnp.asarray(enc, jnp.int32), trie))


def test_build_trie_dense_and_sparse_agree_and_list_children():
  sids = np.array([[10, 14, 18], [10, 14, 19], [10, 15, 18], [11, 14, 18]])
  dense = decoding.build_trie(sids)
  sparse = decoding.build_trie(sids, dense_max_entries=0)
  assert [l.kind for l in dense.levels] == ["dense"] * 3
  assert [l.kind for l in sparse.levels] == ["sparse"] * 3
  assert [l.width for l in sparse.levels] == [2, 2, 2]  # Largest fan-out per level.
  for trie in (dense, sparse):
    # Root allows 10 and 11; prefix 10 allows 14 and 15; prefix (10, 14) allows 18 and 19.
    tok, child = decoding._level_candidates(trie.levels[0], jnp.array([0]), 3)
    assert sorted(t for t in np.asarray(tok)[0] if t >= 0) == [10, 11]
    node10 = int(np.asarray(child)[0][list(np.asarray(tok)[0]).index(10)])
    tok, child = decoding._level_candidates(trie.levels[1], jnp.array([node10]), 3)
    assert sorted(t for t in np.asarray(tok)[0] if t >= 0) == [14, 15]
    node1014 = int(np.asarray(child)[0][list(np.asarray(tok)[0]).index(14)])
    tok, child = decoding._level_candidates(trie.levels[2], jnp.array([node1014]), 3)
    leaves = {int(t): int(c) for t, c in zip(np.asarray(tok)[0], np.asarray(child)[0]) if t >= 0}
    assert leaves == {18: 0, 19: 1}  # Leaves are item indices.


def test_build_trie_rejects_duplicates_and_bad_shapes():
  with pytest.raises(ValueError, match="unique"):
    decoding.build_trie(np.array([[10, 14], [10, 14]]))
  with pytest.raises(ValueError, match=r"\[N, L\]"):
    decoding.build_trie(np.array([10, 14]))


@pytest.mark.parametrize("dense_max_entries", [decoding.DEFAULT_DENSE_MAX_ENTRIES, 0, 8])
def test_constrained_ranking_equals_teacher_forcing_when_beam_covers_catalog(dense_max_entries):
  sids = random_sids(30, seed=1)
  model = toy_seq2seq.ToySeq2Seq(vocab_size())
  params = model.init(seed=2)
  enc = np.array([[3, 4, 5, 0], [2, 2, 9, 6], [7, 0, 0, 0]])
  trie = decoding.build_trie(sids, dense_max_entries=dense_max_entries)
  res = run_constrained(model, params, enc, trie, beam=32, top_k=30)
  expected = teacher_scores(model, params, enc, sids)
  for u in range(len(enc)):
    order = np.argsort(-expected[u], kind="stable")
    np.testing.assert_array_equal(res.items[u], order)
    np.testing.assert_allclose(res.scores[u], expected[u][order], rtol=1e-5, atol=1e-5)
    np.testing.assert_array_equal(res.tokens[u], sids[order])


def test_without_eos_scores_are_sid_log_probs():
  sids = random_sids(12, seed=3)
  model = toy_seq2seq.ToySeq2Seq(vocab_size())
  params = model.init(seed=4)
  enc = np.array([[3, 4, 0]])
  res = run_constrained(model, params, enc, decoding.build_trie(sids), beam=16, top_k=12,
                        include_eos=False)
  batch = toy_seq2seq.teacher_batch(np.repeat(enc, 12, 0), sids)
  expected = np.asarray(model.score_batch(params, batch))
  np.testing.assert_allclose(res.scores[0], np.sort(expected)[::-1], rtol=1e-5, atol=1e-5)


def test_small_beams_return_only_catalog_items_and_distinct():
  sids = random_sids(60, levels=3, codes=5, seed=5)
  model = toy_seq2seq.ToySeq2Seq(vocab_size(3, 5))
  params = model.init(seed=6, scale=6.0)  # Peaked logits: unconstrained argmax often invalid.
  enc = np.random.default_rng(0).integers(2, 10, size=[8, 5])
  trie = decoding.build_trie(sids, dense_max_entries=30)
  expected = teacher_scores(model, params, enc, sids)
  for beam in (1, 3):
    res = run_constrained(model, params, enc, trie, beam=beam)
    assert (res.items >= 0).all() and (res.items < 60).all()
    np.testing.assert_array_equal(res.tokens, sids[res.items])
    for u in range(len(enc)):
      assert len(set(res.items[u])) == beam
      np.testing.assert_allclose(res.scores[u], expected[u][res.items[u]], rtol=1e-5, atol=1e-5)
      assert (np.diff(res.scores[u]) <= 1e-6).all()


def test_catalog_smaller_than_beam_pads_with_minus_one():
  sids = random_sids(5, seed=7)
  model = toy_seq2seq.ToySeq2Seq(vocab_size())
  params = model.init(seed=8)
  res = run_constrained(model, params, np.array([[3, 4]]), decoding.build_trie(sids), beam=8)
  assert sorted(res.items[0][:5].tolist()) == [0, 1, 2, 3, 4]
  assert (res.items[0][5:] == -1).all() and np.isneginf(res.scores[0][5:]).all()
  assert (res.tokens[0][5:] == -1).all()


def test_beam_50_on_a_larger_catalog():
  sids = random_sids(400, levels=3, codes=8, seed=9)
  model = toy_seq2seq.ToySeq2Seq(vocab_size(3, 8))
  params = model.init(seed=10)
  enc = np.random.default_rng(1).integers(2, 10, size=[4, 6])
  res = run_constrained(model, params, enc, decoding.build_trie(sids, dense_max_entries=64),
                        beam=50, top_k=10)
  assert res.items.shape == (4, 10) and res.tokens.shape == (4, 10, 3)
  expected = teacher_scores(model, params, enc, sids)
  for u in range(4):
    assert len(set(res.items[u])) == 10 and (res.items[u] >= 0).all()
    # Beam 50 over 400 items finds the true top-3 on this smooth toy model.
    np.testing.assert_array_equal(res.items[u][:3], np.argsort(-expected[u])[:3])


_SHARDED = textwrap.dedent("""
    import json, os, sys
    os.environ["XLA_FLAGS"] = "--xla_force_host_platform_device_count=2"
    import jax, jax.numpy as jnp, numpy as np
    from jax.sharding import Mesh, NamedSharding, PartitionSpec as P
    sys.path.insert(0, sys.argv[1])
    import toy_seq2seq
    from gr_jax import decoding
    sids = np.array(json.loads(sys.argv[2]))
    model = toy_seq2seq.ToySeq2Seq(int(sids.max()) + 1)
    params = model.init(seed=3)
    enc = np.random.default_rng(2).integers(2, 10, size=[4, 5]).astype(np.int32)
    trie = decoding.build_trie(sids, dense_max_entries=16)
    fn = decoding.make_sid_predict_fn(model, 6, 4)
    mesh = Mesh(np.array(jax.devices()), ("data",))
    enc_sharded = jax.device_put(enc, NamedSharding(mesh, P("data")))
    with mesh:
      sharded = fn(params, enc_sharded, trie)
    plain = fn(params, jnp.asarray(enc), trie)
    print(json.dumps({"devices": len(jax.devices()),
                      "spec": str(sharded.items.sharding.spec),
                      "same_items": bool((np.asarray(sharded.items) == np.asarray(plain.items)).all()),
                      "max_diff": float(np.abs(np.asarray(sharded.scores) - np.asarray(plain.scores)).max())}))
""")


def test_sharded_over_data_matches_single_device():
  sids = random_sids(40, seed=11)
  env = dict(os.environ, JAX_PLATFORMS="cpu")
  out = subprocess.run([sys.executable, "-c", _SHARDED, os.path.dirname(os.path.abspath(__file__)),
                        json.dumps(sids.tolist())], capture_output=True, text=True, env=env,
                       timeout=300, check=True)
  result = json.loads(out.stdout.strip().splitlines()[-1])
  assert result["devices"] == 2 and "data" in result["spec"]
  assert result["same_items"] and result["max_diff"] < 1e-5


def _brute_force_text(model, params, enc_row, vocab, length, alpha):
  """Every sequence of <= length tokens ending in eos (or truncated): (tokens, score), best first."""
  seqs = []
  for n in range(1, length + 1):
    for body in itertools.product(range(2, vocab), repeat=n - 1):
      for last in range(1, vocab):
        if last == EOS or n == length:
          seqs.append(list(body) + [last])
  targets = np.zeros([len(seqs), length], np.int32)
  for i, seq in enumerate(seqs):
    targets[i, :len(seq)] = seq
  batch = toy_seq2seq.teacher_batch(np.repeat(enc_row[None], len(seqs), 0), targets)
  lp = np.asarray(model.score_batch(params, batch))
  scored = [(seq, float(l) / float(decoding.brevity_penalty(float(len(seq)), alpha)))
            for seq, l in zip(seqs, lp)]
  return sorted(scored, key=lambda x: -x[1])


def test_unconstrained_beam_search_matches_brute_force():
  vocab, length, beam = 5, 3, 4
  model = toy_seq2seq.ToySeq2Seq(vocab, dim=8)
  params = model.init(seed=12, scale=1.0)
  # Forbid pad (0) as an output so brute force needs no pad handling.
  params["bias"] = params["bias"].at[0].set(-1e4)
  enc = np.array([[2, 3, 4], [4, 4, 2]])
  @jax.jit
  def run(params, enc, alpha):
    ttl, cache = model.make_decoding_fns(params, enc, beam, length)
    return decoding.beam_search(ttl, cache, 2, beam, length, alpha=alpha)

  for alpha in (0.0, 0.6):
    # Beam search is approximate; with beam 4 on this tiny space it finds the true top-1.
    seqs, scores = map(np.asarray, run(params, jnp.asarray(enc), alpha))
    for u in range(2):
      truth = _brute_force_text(model, params, enc[u], vocab, length, alpha)
      best, best_score = truth[0]
      got = [int(t) for t in seqs[u, 0] if t]
      assert got == best
      np.testing.assert_allclose(scores[u, 0], best_score, rtol=1e-5)
      assert (np.diff(scores[u]) <= 1e-6).all()
      # Every returned hypothesis carries its true score.
      table = {tuple(s): sc for s, sc in truth}
      for k in range(beam):
        seq = tuple(int(t) for t in seqs[u, k] if t)
        np.testing.assert_allclose(scores[u, k], table[seq], rtol=1e-5)


def test_greedy_and_temperature_sampling():
  vocab = 6
  model = toy_seq2seq.ToySeq2Seq(vocab, dim=8)
  params = model.init(seed=13)
  enc = jnp.asarray([[2, 3], [5, 4], [3, 3]])

  @functools.partial(jax.jit, static_argnames=("temperature", "topk"))
  def run(key, temperature, topk=0):
    ttl, cache = model.make_decoding_fns(params, enc, 1, 6)
    return decoding.temperature_sample(ttl, cache, key, 3, 6, temperature=temperature, topk=topk)

  greedy, lp = map(np.asarray, run(jax.random.PRNGKey(0), 0.0))
  # Greedy = step-by-step argmax; its log-prob is the teacher-forced score.
  for u in range(3):
    seq = list(greedy[u])
    n = seq.index(EOS) + 1 if EOS in seq else len(seq)
    assert all(t == 0 for t in seq[n:])
    batch = toy_seq2seq.teacher_batch(np.asarray(enc)[u:u + 1], np.array([seq[:n]]))
    np.testing.assert_allclose(lp[u], float(model.score_batch(params, batch)[0]), rtol=1e-5)
  # top-k 1 sampling is greedy; different seeds at a high temperature differ somewhere.
  np.testing.assert_array_equal(np.asarray(run(jax.random.PRNGKey(5), 1.0, topk=1)[0]), greedy)
  samples = {tuple(np.asarray(run(jax.random.PRNGKey(s), 1.5)[0]).ravel()) for s in range(4)}
  assert len(samples) > 1


def test_ensemble_mean_softmax_hand_computed():
  items_t = jnp.array([[3, 5, -1]])
  scores_t = jnp.log(jnp.array([[0.5, 0.25, 0.1]]))
  items_v = jnp.array([[5, 7, 3]])
  scores_v = jnp.log(jnp.array([[0.6, 0.3, 0.1]]))
  items, fused = decoding.ensemble([items_t, items_v], [scores_t, scores_v], top_k=4)
  # Text probs over its 2 valid beams: 3 -> 2/3, 5 -> 1/3; image: 5 -> .6, 7 -> .3, 3 -> .1.
  expected = {5: (1 / 3 + 0.6) / 2, 3: (2 / 3 + 0.1) / 2, 7: 0.3 / 2}
  got = dict(zip(np.asarray(items)[0][:3].tolist(), np.asarray(fused)[0][:3].tolist()))
  assert list(got) == [5, 3, 7]
  for k, v in expected.items():
    assert got[k] == pytest.approx(v, rel=1e-5)
  assert int(items[0, 3]) == -1 and np.isneginf(float(fused[0, 3]))


def test_ensemble_length_normalised_with_presence_bonus_and_rrf():
  items_t = jnp.array([[3, 5]])
  scores_t = jnp.array([[-2.0, -4.0]])
  items_v = jnp.array([[7, 5]])
  scores_v = jnp.array([[-1.0, -8.0]])
  items, fused = decoding.ensemble([items_t, items_v], [scores_t, scores_v], top_k=3,
                                   normalize="length", sid_lengths=[4, 4])
  # 5 in both: (-1 + -2) / 2 + 1 = -0.5; 7: -0.25; 3: -0.5 -> ties broken by first occurrence.
  assert np.asarray(items)[0].tolist() == [7, 3, 5]
  np.testing.assert_allclose(np.asarray(fused)[0], [-0.25, -0.5, -0.5])
  items, fused = decoding.ensemble([items_t, items_v], [scores_t, scores_v], top_k=3,
                                   method="rrf", rrf_k=1.0)
  # rrf: 5 -> 1/3 + 1/3; 3 -> 1/2; 7 -> 1/2.
  assert np.asarray(items)[0][0] == 5
  np.testing.assert_allclose(np.asarray(fused)[0], [2 / 3, 0.5, 0.5], rtol=1e-6)


@pytest.mark.parametrize("end_positions", [0, 4])
def test_real_t5_constrained_ranking_equals_teacher_forcing(end_positions):
  """The cached decoder (one encoder pass) and training's forward agree, recency embedding too."""
  sids = random_sids(24, seed=14)
  cfg = t5.T5Config(vocab_size=vocab_size(), emb_dim=32, num_heads=2, head_dim=8, mlp_dim=64,
                    num_encoder_layers=1, num_decoder_layers=1, dropout_rate=0.0,
                    encoder_end_positions=end_positions)
  model = models.EncoderDecoderModel(cfg)
  params = jax.jit(model.init_params)(jax.random.PRNGKey(0))
  # Sharpen the random model so that near-ties do not decide the comparison.
  params = jax.tree_util.tree_map_with_path(
      lambda path, x: x * 8.0 if "logits_dense" in jax.tree_util.keystr(path) else x, params)
  enc = np.array([[3, 4, 5, 1, 0], [2, 9, 6, 8, 1]], np.int32)
  res = run_constrained(model, params, enc, decoding.build_trie(sids, dense_max_entries=20),
                        beam=24, top_k=24)
  targets = np.concatenate([sids, np.full([24, 1], EOS)], 1)
  score = jax.jit(model.score_batch)
  for u in range(len(enc)):
    batch = toy_seq2seq.teacher_batch(np.repeat(enc[u:u + 1], 24, 0), targets)
    expected = np.asarray(score(params, batch))
    order = np.argsort(-expected, kind="stable")
    assert np.ptp(expected) > 1.0
    np.testing.assert_allclose(res.scores[u], expected[res.items[u]], rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(res.scores[u], expected[order], rtol=1e-4, atol=1e-4)
    gaps = np.diff(expected[order])
    strict = np.concatenate([[True], gaps < -1e-3])  # Positions not in a near-tie.
    np.testing.assert_array_equal(res.items[u][strict & np.roll(strict, -1)],
                                  order[strict & np.roll(strict, -1)])


def test_trim_padding_keeps_a_multiple_and_decodes_the_same_items():
  tokens = np.zeros([3, 64], np.int32)
  tokens[0, :5] = 7
  tokens[2, :9] = 3
  assert decoding.trim_padding(tokens, 4).shape == (3, 12)
  assert decoding.trim_padding(tokens).shape == (3, 32)
  assert decoding.trim_padding(tokens, 128).shape == (3, 64)  # Never wider than the input.
  assert decoding.trim_padding(np.zeros([2, 8], np.int32), 1).shape == (2, 1)
  with pytest.raises(ValueError, match=r"\[B, T\]"):
    decoding.trim_padding(np.zeros([8], np.int32))
  sids = random_sids(24, seed=15)
  cfg = t5.T5Config(vocab_size=vocab_size(), emb_dim=32, num_heads=2, head_dim=8, mlp_dim=64,
                    num_encoder_layers=1, num_decoder_layers=1, dropout_rate=0.0)
  model = models.EncoderDecoderModel(cfg)
  params = jax.tree_util.tree_map_with_path(
      lambda path, x: x * 8.0 if "logits_dense" in jax.tree_util.keystr(path) else x,
      jax.jit(model.init_params)(jax.random.PRNGKey(1)))
  enc = np.zeros([2, 16], np.int32)
  enc[0, :4], enc[1, :3] = [3, 4, 5, 1], [2, 9, 1]
  trie = decoding.build_trie(sids)
  full = run_constrained(model, params, enc, trie, beam=8)
  short = run_constrained(model, params, decoding.trim_padding(enc, 4), trie, beam=8)
  np.testing.assert_array_equal(short.items, full.items)
  np.testing.assert_allclose(short.scores, full.scores, rtol=1e-6, atol=1e-6)


def test_candidate_log_probs_equal_log_softmax_bitwise():
  logits = jax.random.normal(jax.random.PRNGKey(0), (6, 300)) * 5.0
  tokens = jnp.array([[0, 5, 299, -1]] * 6, jnp.int32)
  got = np.asarray(jax.jit(decoding.candidate_log_probs)(logits, tokens))
  want = np.asarray(jax.jit(lambda l, t: jnp.take_along_axis(
      jax.nn.log_softmax(l, axis=-1), jnp.maximum(t, 0), axis=1))(logits, tokens))
  np.testing.assert_array_equal(got, want)
