"""Tests for gr_jax.text_vocab: SentencePiece + atomic SID tokens, round trips, build caching."""

import os
import pickle

import numpy as np
import pytest
import tensorflow as tf

from gr_jax import text_vocab as vocab_lib
from gr_jax.data import layout
from gr_jax.data import sids
from gr_jax_tasks import testing

TEXTS = [
    "Heavy scale model 14",
    "  leading, trailing and   multiple spaces  ",
    "Ünïcödé: 日本語 😀 ﬁ ＡＢ — \"quotes\" <b>html</b>",
    "tabs\tand\nnewlines\r\n",
    "Predict the next item from the history: <a_1><b_2><c_3>, <a_0><b_0><c_7>",
    "x<a_1>y<A_3>z",
    "<a_99> is not a SID token here",
    "",
]
SIDS = ["<a_1><b_2><c_3>", "<a_7><b_7><c_7>", "<A_0><B_1><C_2><D_3>", "<a_0><b_0><c_0><d_3>"]


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
  d = str(tmp_path_factory.mktemp("vocab_ds"))
  testing.make_dataset(d, n_users=6)
  return d


@pytest.fixture(scope="module")
def vocab(data_dir):
  vocab_lib.build_vocabulary(data_dir, "macrec", sp_vocab_size=600)
  return vocab_lib.load_vocabulary(data_dir, "macrec")


def test_t5_special_ids(vocab):
  assert (vocab.pad_id, vocab.eos_id, vocab.unk_id) == (0, 1, 2)
  assert vocab.extra_ids == 0
  assert vocab.tokenizer.IdToPiece(1) == "</s>"


def test_vocab_size_is_text_pieces_plus_every_sid_code(vocab):
  # macrec fixture: text and image, 4 levels x `base` codes each.
  meta = vocab.meta
  base = meta["modalities"]["text"]["codebook_sizes"][0]
  n_sid = sum(sum(m["codebook_sizes"]) for m in meta["modalities"].values())
  assert n_sid == 2 * 4 * base
  assert vocab.vocab_size == vocab.num_text_pieces + n_sid
  assert vocab.sid_id_range("text")[1] - vocab.sid_id_range("text")[0] == 4 * base
  assert vocab.modalities == ["image", "text"]


@pytest.mark.parametrize("text", TEXTS + SIDS)
def test_python_round_trip(vocab, text):
  ids = vocab.encode(text)
  assert all(0 < i < vocab.vocab_size for i in ids)
  assert vocab.decode(ids) == text


def test_tf_encode_matches_python_and_round_trips(vocab):
  for text in TEXTS + SIDS:
    ids_tf = vocab.encode_tf(tf.constant(text)).numpy().tolist()
    assert ids_tf == vocab.encode(text)
    assert vocab.decode_tf(tf.constant(ids_tf, tf.int32)).numpy().decode() == text


def test_decode_stops_at_eos_and_ignores_pad(vocab):
  ids = vocab.encode("<a_1><b_2><c_0><d_1>")
  assert vocab.decode(ids + [1] + vocab.encode("junk")) == "<a_1><b_2><c_0><d_1>"
  padded = tf.constant([ids + [1, 0, 0]], tf.int32)
  assert vocab.decode_tf(padded).numpy()[0].decode() == "<a_1><b_2><c_0><d_1>"


def test_sid_tokens_are_atomic_everywhere(vocab):
  layout = vocab.meta["modalities"]
  for spec in layout.values():
    for token in sids.tokens_for(spec["prefixes"], spec["codebook_sizes"]):
      tid = vocab.sid_token_id(token)
      assert vocab.is_sid_id(tid)
      assert vocab.encode(token) == [tid]
      # Never split, whatever surrounds it.
      assert tid in vocab.encode(f"see{token}, or {token}.")
  assert vocab.encode("<a_1><b_2><c_0><d_1>") == vocab.sid_token_ids("<a_1><b_2><c_0><d_1>")
  assert vocab.sid_token_ids(["<A_2>", "<B_0>"]) == [vocab.sid_token_id("<A_2>"),
                                                      vocab.sid_token_id("<B_0>")]
  start, end = vocab.sid_level_ids("image", 1)
  assert vocab.sid_token_id("<B_0>") == start
  assert end - start == vocab.meta["modalities"]["image"]["codebook_sizes"][1]


def test_unknown_sid_tokens_raise(vocab):
  with pytest.raises(KeyError):
    vocab.sid_token_id("<a_99>")  # Code beyond the codebook.
  with pytest.raises(KeyError):
    vocab.sid_token_id("<z_0>")
  with pytest.raises(ValueError):
    vocab.sid_token_ids("<a_1> <b_2>")
  assert not vocab.is_sid_id(vocab.encode("a")[0])


def test_build_skips_when_up_to_date_and_rebuilds_on_change(data_dir, vocab):
  model = os.path.join(vocab.vocab_dir, layout.VOCAB_MODEL)
  before = os.stat(model).st_mtime_ns
  assert vocab_lib.build_vocabulary(data_dir, "macrec", sp_vocab_size=600) == vocab.vocab_dir
  assert os.stat(model).st_mtime_ns == before  # Up to date: nothing rewritten.
  other = os.path.join(data_dir, "vocab_other")
  vocab_lib.build_vocabulary(data_dir, "macrec", sp_vocab_size=600, out_dir=other)
  # Deterministic: the same inputs give the same model bytes.
  with open(model, "rb") as a, open(os.path.join(other, layout.VOCAB_MODEL), "rb") as b:
    assert a.read() == b.read()
  # A catalog change makes the vocabulary stale; it is rebuilt and reloads fresh.
  items = os.path.join(data_dir, "items.jsonl")
  with open(items, "a", encoding="utf-8") as f:
    f.write('{"item_id": "zz", "title": "Zyzzyva zyzzyva zyzzyva"}\n')
  vocab_lib.build_vocabulary(data_dir, "macrec", sp_vocab_size=600, out_dir=other)
  with open(model, "rb") as a, open(os.path.join(other, layout.VOCAB_MODEL), "rb") as b:
    assert a.read() != b.read()
  rebuilt = vocab_lib.load_vocabulary(other)
  assert rebuilt.meta["fingerprint"] != vocab.meta["fingerprint"]
  assert rebuilt.decode(rebuilt.encode("Zyzzyva <A_1>")) == "Zyzzyva <A_1>"


def test_lazy_builder_pickle_and_equality(data_dir, tmp_path):
  out = str(tmp_path / "lazy")
  calls = []

  def builder():
    calls.append(1)
    vocab_lib.build_vocabulary(data_dir, "tiger", sp_vocab_size=600, out_dir=out)

  lazy = vocab_lib.GrVocabulary(out, builder=builder)
  assert not os.path.exists(out) and not calls
  sid = "<a_2><b_1><c_0>"
  assert lazy.decode(lazy.encode(sid)) == sid and calls == [1]
  lazy.encode("again")
  assert calls == [1]
  clone = pickle.loads(pickle.dumps(lazy))
  assert clone == lazy and clone.encode(sid) == lazy.encode(sid)
  assert vocab_lib.load_vocabulary(out) == lazy


def test_load_vocabulary_errors(tmp_path, data_dir):
  with pytest.raises(FileNotFoundError):
    vocab_lib.load_vocabulary(str(tmp_path))
  with pytest.raises(FileNotFoundError, match="no semantic IDs|sids.json"):
    vocab_lib.build_vocabulary(str(tmp_path), "trialign")


def test_text_is_compressed_by_the_catalog_model(vocab):
  # Catalog words merge into multi-character pieces (fewer pieces than characters).
  text = "Heavy scale model for the lab"
  assert len(vocab.encode(text)) < 0.7 * len(text)
  assert np.all(np.array(vocab.encode(text)) < vocab.num_text_pieces)
