"""The T5X path: `decoding.t5x_constrained_beam_search` as a T5X decode_fn, the T5X gin files
(gin/{trialign,macrec,tiger}.gin and gin/t5x/), t5x_gin hooks.

T5X itself is not a dependency: the decode function is checked against
`constrained_beam_search` through T5X's calling convention (DecodingState,
unexpanded cache, ascending beams), and the gin files are parsed as text; only
`test_gin_files_parse_with_t5x` needs `t5x`.
"""

import functools
import glob
import importlib
import inspect
import os
import re
import subprocess
import sys

import gin
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from gr_jax import decoding
from gr_jax import t5x_gin
from gr_jax.model import models
from gr_jax.model import t5

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import test_decoding as td  # pylint: disable=g-import-not-at-top,wrong-import-position
import toy_seq2seq  # pylint: disable=g-import-not-at-top,wrong-import-position

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
METHODS = ("trialign", "macrec", "tiger")
T5X_GIN = sorted(glob.glob(os.path.join(REPO, "gin", "t5x", "*.gin")))
CARD_GIN = [os.path.join(REPO, "gin", f"{m}.gin") for m in METHODS]  # `python -m t5x.train` files.
EOS = td.EOS


def t5x_decode(model, params, enc, trie, beam, max_len=6, stateless=False, cache_offset=0):
  """Calls the decode fn as T5X does: cache of B rows, `tokens_to_logits(DecodingState)`."""
  ttl, cache = model.make_decoding_fns(params, jnp.asarray(enc, jnp.int32), 1, max_len)
  if stateless:  # Logits from state.sequences[:, :cur_index + 1] only: checks their layout.
    h0 = cache["h"]

    def tokens_to_logits(state):
      h = jnp.repeat(h0, beam, 0)
      for t in range(max_len + 1):
        tok = state.sequences[:, t]
        h_next, logits_t = model._step(params, h, jnp.full([h.shape[0]], t), tok)  # pylint: disable=protected-access
        if t == 0:
          logits = logits_t
        live = t <= state.cur_index
        h = jnp.where(live, h_next, h)
        logits = jnp.where(t == state.cur_index, logits_t, logits)
      return logits, state.cache
  elif cache_offset:
    cache = jax.tree.map(lambda x: x[None], cache)  # Batch on axis 1, as with scanned layers.

    def tokens_to_logits(state):
      logits, new = ttl(state.cur_token, jax.tree.map(lambda x: x[0], state.cache))
      return logits, jax.tree.map(lambda x: x[None], new)
  else:
    tokens_to_logits = lambda state: ttl(state.cur_token, state.cache)

  @jax.jit
  def run(cache):
    return decoding.t5x_constrained_beam_search(
        jnp.zeros([len(enc), max_len], jnp.int32), cache, tokens_to_logits, EOS, num_decodes=beam,
        trie=trie, cache_offset=cache_offset)

  return jax.tree.map(np.asarray, run(cache))


def test_signature_is_a_t5x_decode_fn():
  params = inspect.signature(decoding.t5x_constrained_beam_search).parameters
  assert list(params)[:5] == ["inputs", "cache", "tokens_to_logits", "eos_id", "num_decodes"]
  # T5X prefills the prompt only when the decode fn takes initial_index; it passes these too.
  assert {"initial_index", "decode_rng", "cache_offset", "max_decode_len"} <= set(params)
  wrapped = gin.external_configurable(decoding.t5x_constrained_beam_search,
                                      name="t5x_decode_signature_probe")
  assert "initial_index" in inspect.signature(wrapped).parameters  # Also through gin.


@pytest.mark.parametrize("mode", ["cache", "stateless", "cache_offset"])
def test_same_beams_and_scores_as_constrained_beam_search(mode):
  sids = td.random_sids(30, seed=1)
  model = toy_seq2seq.ToySeq2Seq(td.vocab_size())
  params = model.init(seed=2)
  enc = np.array([[3, 4, 5, 0], [2, 2, 9, 6], [7, 0, 0, 0]])
  trie = decoding.build_trie(sids, dense_max_entries=8)
  beam = 5
  want = td.run_constrained(model, params, enc, trie, beam=beam)
  seqs, scores = t5x_decode(model, params, enc, trie, beam, max_len=6,
                            stateless=mode == "stateless", cache_offset=int(mode == "cache_offset"))
  assert seqs.shape == (3, beam, 6) and scores.shape == (3, beam)
  # T5X order: increasing score, best beam last.
  np.testing.assert_array_equal(seqs[:, ::-1, :3], want.tokens)
  np.testing.assert_allclose(scores[:, ::-1], want.scores, rtol=1e-5, atol=1e-5)
  assert (np.diff(scores, axis=1) >= -1e-6).all()
  assert (seqs[:, :, 3] == EOS).all() and (seqs[:, :, 4:] == 0).all()
  # The scores are the teacher-forced log p(SID + eos) of catalog items.
  expected = td.teacher_scores(model, params, enc, sids)
  rows = {tuple(r): n for n, r in enumerate(sids.tolist())}
  for u in range(len(enc)):
    items = [rows[tuple(s)] for s in seqs[u, :, :3].tolist()]
    np.testing.assert_allclose(scores[u], expected[u][items], rtol=1e-5, atol=1e-5)


def test_only_catalog_sids_and_dead_beams_first():
  sids = td.random_sids(4, seed=7)
  model = toy_seq2seq.ToySeq2Seq(td.vocab_size())
  params = model.init(seed=8, scale=6.0)
  seqs, scores = t5x_decode(model, params, np.array([[3, 4], [5, 6]]), decoding.build_trie(sids),
                            beam=6, max_len=4)
  catalog = {tuple(r) for r in sids.tolist()}
  for u in range(2):
    assert {tuple(s) for s in seqs[u, 2:, :3].tolist()} == catalog  # 4 items, best last.
    assert (seqs[u, :2] == 0).all() and (scores[u, :2] == decoding.NEG_INF).all()
    assert (seqs[u, 2:, 3] == EOS).all() and (scores[u, 2:] > -1e3).all()


def test_rejects_missing_trie_and_short_length():
  model = toy_seq2seq.ToySeq2Seq(td.vocab_size())
  params = model.init()
  ttl, cache = model.make_decoding_fns(params, jnp.ones([1, 3], jnp.int32), 1, 4)
  fn = lambda state: ttl(state.cur_token, state.cache)
  with pytest.raises(ValueError, match="trie"):
    decoding.t5x_constrained_beam_search(jnp.zeros([1, 4], jnp.int32), cache, fn, EOS)
  with pytest.raises(ValueError, match="cannot hold"):
    decoding.t5x_constrained_beam_search(jnp.zeros([1, 2], jnp.int32), cache, fn, EOS,
                                         trie=decoding.build_trie(td.random_sids(3)))


def test_gr_jax_transformer_through_t5x_predict_protocol():
  """gr_jax's T5 module called as T5X's EncoderDecoderModel.predict_batch calls it (cache from
  `__call__(decode=True)`, per-step `module.decode` on beam-expanded encodings) decodes the same
  items as gr_jax's own `make_sid_predict_fn`."""
  sids = td.random_sids(20, seed=3)
  cfg = t5.T5Config(vocab_size=td.vocab_size(), emb_dim=32, num_heads=2, head_dim=8, mlp_dim=64,
                    num_encoder_layers=1, num_decoder_layers=2, dropout_rate=0.0,
                    t5x_params_axes=True)
  model = models.EncoderDecoderModel(cfg)
  module = model.module
  enc = jnp.asarray(np.random.default_rng(0).integers(2, 10, size=[3, 5]), jnp.int32)
  params = module.init(jax.random.PRNGKey(0), enc, enc[:, :4], enc[:, :4],
                       enable_dropout=False)["params"]
  trie = decoding.build_trie(sids)
  beam, targets_len = 4, 6

  @jax.jit
  def t5x_style(params, enc):
    dec = jnp.ones([enc.shape[0], targets_len], jnp.int32)
    encoded = module.apply({"params": params}, enc, enable_dropout=False, method=module.encode)
    _, init = module.apply({"params": params}, encoder_input_tokens=jnp.ones_like(enc),
                           decoder_input_tokens=dec, decoder_target_tokens=dec, decode=True,
                           enable_dropout=False, mutable=["cache"])
    encoded_x, enc_x = jnp.repeat(encoded, beam, 0), jnp.repeat(enc, beam, 0)

    def tokens_to_logits(state):
      logits, new = module.apply(
          {"params": params, "cache": state.cache}, encoded_x, enc_x, state.cur_token,
          state.cur_token, enable_dropout=False, decode=True, max_decode_length=targets_len,
          mutable=["cache"], method=module.decode)
      return logits[:, 0], new["cache"]

    return decoding.t5x_constrained_beam_search(
        jnp.zeros_like(dec), init["cache"], tokens_to_logits, EOS, beam, trie=trie)

  seqs, scores = jax.tree.map(np.asarray, t5x_style(params, enc))
  want = jax.tree.map(np.asarray, decoding.make_sid_predict_fn(model, beam)(params, enc, trie))
  np.testing.assert_array_equal(seqs[:, ::-1, :3], want.tokens)
  np.testing.assert_allclose(scores[:, ::-1], want.scores, rtol=1e-4, atol=1e-4)


# ---- T5X gin files ---------------------------------------------------------------------------
_IMPORT = re.compile(r"^(?:from\s+([\w.]+)\s+)?import\s+([\w.]+)(?:\s+as\s+(\w+))?\s*$")
_BINDING = re.compile(r"^([\w./]+)\.(\w+)\s*=")
_BLOCK = re.compile(r"^([\w./]+):\s*$")
_PARAM = re.compile(r"^\s+(\w+)\s*=")
_REFERENCE = re.compile(r"@([\w./]+)")
_INCLUDE = re.compile(r"^include\s+'([^']+)'")


def parse_gin_text(path):
  """(imports {alias: dotted path}, [(selector, param)], [referenced selectors], [includes])."""
  imports, bindings, refs, includes, block = {}, [], [], [], None
  for line in open(path, encoding="utf-8"):
    line = line.split("#", 1)[0].rstrip()
    if not line:
      continue
    if m := _IMPORT.match(line):
      full = f"{m.group(1)}.{m.group(2)}" if m.group(1) else m.group(2)
      imports[m.group(3) or (m.group(2) if m.group(1) else full)] = full
    elif m := _INCLUDE.match(line):
      includes.append(m.group(1))
    elif m := _BLOCK.match(line):
      block = m.group(1)
    elif block and (m := _PARAM.match(line)):
      bindings.append((block, m.group(1)))
    elif m := _BINDING.match(line):
      block = None
      bindings.append((m.group(1), m.group(2)))
    else:
      block = None if not line.startswith(" ") else block
    refs += _REFERENCE.findall(line)
  return imports, bindings, refs, includes


def resolve(dotted):
  """The object a dotted path names (longest importable module prefix, then attributes)."""
  parts = dotted.split(".")
  for n in range(len(parts), 0, -1):
    try:
      obj = importlib.import_module(".".join(parts[:n]))
    except ImportError:
      continue
    for attr in parts[n:]:
      obj = getattr(obj, attr)
    return obj
  raise ImportError(dotted)


def gr_jax_path(selector, imports):
  """`t5x_gin.Dataset` -> `gr_jax.t5x_gin.Dataset` (None for T5X / seqio selectors)."""
  selector = selector.split("/")[-1]  # Drop a gin scope.
  head, _, rest = selector.partition(".")
  full = f"{imports[head]}.{rest}" if head in imports else selector
  return full if full.split(".")[0] in ("gr_jax", "gr_jax_tasks") else None


def gin_closure(path):
  """`path` and the repo gin files it includes (T5X's own includes are skipped)."""
  out, todo = [], [path]
  while todo:
    p = todo.pop()
    out.append(p)
    for inc in parse_gin_text(p)[3]:
      if not inc.startswith("t5x/"):
        assert os.path.exists(os.path.join(REPO, inc)), f"{p}: include {inc!r} does not exist"
        todo.append(os.path.join(REPO, inc))
  return out


def test_t5x_gin_files_exist_and_reference_existing_gr_jax_objects():
  names = {os.path.basename(p) for p in T5X_GIN}
  assert {"common.gin", "trialign.gin", "macrec.gin", "tiger.gin"} <= names  # + old-path aliases.
  for method, path in [(m, p) for m in METHODS
                       for p in (f"gin/{m}.gin", f"gin/t5x/{m}.gin")]:
    files = gin_closure(os.path.join(REPO, path))
    checked = set()
    text = "".join(open(p, encoding="utf-8").read() for p in files)
    assert f"METHOD = '{method}'" in text and "TASK_FEATURE_LENGTHS = {" in text
    assert "decode_fn = @decoding.t5x_constrained_beam_search" in text
    for p in files:
      imports, bindings, refs, _ = parse_gin_text(p)
      for selector, param in bindings:
        full = gr_jax_path(selector, imports)
        if full:
          assert param in inspect.signature(resolve(full)).parameters, f"{p}: {full}.{param}"
          checked.add(f"{full}.{param}")
      for ref in refs:
        full = gr_jax_path(ref, imports)
        if full:
          assert callable(resolve(full)), f"{p}: @{ref}"
          checked.add(full)
    assert {"gr_jax.decoding.t5x_constrained_beam_search.trie", "gr_jax.t5x_gin.sid_trie",
            "gr_jax.model.t5.T5Config.t5x_params_axes", "gr_jax.t5x_gin.mixture_name",
            "gr_jax.model.T5Config.emb_dim"} <= checked


_T5X_PARSE = """
import sys, gin, t5x.train
sys.modules["__main__"] = t5x.train  # `import __main__ as train_script` in T5X's run gin files.
from t5x import gin_utils

def query(name):
  try:
    return str(gin.query_parameter(name))
  except ValueError:  # Not bound (common.gin leaves the model size to the method files).
    return "-"

for path in sys.argv[1:]:
  gin.clear_config()
  gin_utils.parse_gin_flags(["."] + t5x.train._DEFAULT_GIN_SEARCH_PATHS, [path],
                            ["MODEL_DIR='/tmp/m'", "DATA_DIR='/tmp/d'"], finalize_config=False)
  print("PARSED", path, query("%METHOD"), query("gr_jax.model.T5Config.num_heads"),
        repr(gin.config_str()))
"""


def test_gin_files_parse_with_t5x():
  """Every gin/t5x/* file and the card's gin/<method>.gin parse with T5X's own gin flags (one
  process: importing T5X dominates), with the inference-eval loggers and all beams bound."""
  pytest.importorskip("t5x")
  files = [os.path.relpath(p, REPO) for p in CARD_GIN + T5X_GIN]
  out = subprocess.run([sys.executable, "-c", _T5X_PARSE, *files], cwd=REPO,
                       capture_output=True, text=True, timeout=600)
  assert out.returncode == 0, out.stderr[-3000:]
  parsed = {}
  for line in out.stdout.splitlines():
    if line.startswith("PARSED "):
      _, path, method, heads, config = line.split(" ", 4)
      parsed[path] = (method, heads, eval(config))  # pylint: disable=eval-used
  assert sorted(parsed) == sorted(files)
  for path, (method, heads, config) in parsed.items():
    if path != "gin/t5x/common.gin":  # common.gin leaves METHOD and the model size to them.
      assert (method, heads) == (os.path.basename(path)[:-4], "6"), path
    for binding in ("models.DecoderParams.return_all_decodes = True",
                    "train_script.train.inference_evaluator_cls = @seqio.Evaluator",
                    "@seqio.PyLoggingLogger", "@seqio.TensorBoardLogger", "@seqio.JSONLogger",
                    "models.EncoderDecoderModel.decode_fn = @decoding.t5x_constrained_beam_search"):
      assert binding in config, (path, binding)


# ---- t5x_gin hooks ---------------------------------------------------------------------------
@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
  from gr_jax_tasks import testing  # pylint: disable=g-import-not-at-top
  path = str(tmp_path_factory.mktemp("t5xdata") / "sci")
  testing.make_dataset(path)
  return path


def test_hooks_register_mixture_vocab_and_trie(data_dir):
  import gr_jax_tasks  # pylint: disable=g-import-not-at-top
  from gr_jax import recommend  # pylint: disable=g-import-not-at-top
  ds = t5x_gin.Dataset(data_dir, "macrec")
  assert t5x_gin.mixture_name(ds) == "macrec_sci"
  assert t5x_gin.seqrec_name(ds) == "macrec_sci_seqrec"
  import seqio  # pylint: disable=g-import-not-at-top
  assert sorted(t.name for t in seqio.get_mixture_or_task("macrec_sci_seqrec").tasks) == [
      "macrec_sci_seqrec_image", "macrec_sci_seqrec_text"]
  vocab = t5x_gin.vocabulary(ds)
  assert vocab is gr_jax_tasks.vocabulary("macrec_sci")
  size = t5x_gin.vocab_size(ds)
  assert size % 128 == 0 and vocab.vocab_size <= size < vocab.vocab_size + 128
  trie = t5x_gin.sid_trie(ds)
  tables = recommend.read_sid_strings(data_dir, "macrec")
  want = {tuple(vocab.sid_token_ids(s)) for mod in ("text", "image") for s in tables[mod].values()}
  assert trie.num_items == len(want) == 2 * len(tables["text"])
  assert {tuple(r) for r in np.asarray(trie.sids).tolist()} == want
  assert t5x_gin.sid_trie(ds) is trie  # Cached: built once per run.
  text_only = t5x_gin.sid_trie(ds, modalities=["text"])
  assert text_only.num_items == len(tables["text"])


def test_hooks_take_the_gin_configured_dataset(data_dir):
  gin.clear_config()
  try:
    gin.parse_config([f"gr_jax.t5x_gin.Dataset.data_dir = '{data_dir}'",
                      "gr_jax.t5x_gin.Dataset.method = 'tiger'"])
    assert t5x_gin.mixture_name() == "tiger_sci"
    assert t5x_gin.seqrec_name() == "tiger_sci_seqrec"  # One task: the task itself.
    assert t5x_gin.sid_trie().sid_length == 3
  finally:
    gin.clear_config()
  with pytest.raises(ValueError, match="DATA_DIR"):
    t5x_gin.mixture_name()


def test_compact_history_reaches_the_t5x_mixture(data_dir):
  """gin/tiger.gin sets COMPACT_HISTORY: the T5X mixture's history tasks read SID tokens alone."""
  from gr_jax_tasks import registry  # pylint: disable=g-import-not-at-top
  ds = t5x_gin.Dataset(data_dir, "tiger", name="sci_compact", compact_history=True)
  assert ds.resolved().compact_history
  name = t5x_gin.mixture_name(ds)
  cfg = registry.dataset_config(name)
  assert cfg.compact_history
  rec = registry.examples(cfg, "seqrec", "validation")[0]
  assert rec["inputs"].startswith("<") and ", " not in rec["inputs"]
  tiger_gin = open(os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                                "gin", "tiger.gin")).read()
  assert "COMPACT_HISTORY = True" in tiger_gin
