"""seqio Vocabulary: SentencePiece over the catalog text plus one atomic token per SID code."""

from __future__ import annotations

import functools
import hashlib
import io
import json
import logging
import os
import tempfile
from typing import Callable, Iterable, Sequence

import seqio
import tensorflow as tf
from seqio import vocabularies as seqio_vocabularies
import sentencepiece as spm
from sentencepiece import sentencepiece_model_pb2

from gr_jax import enrich
from gr_jax import io_utils
from gr_jax.data import layout
from gr_jax.data import schema
from gr_jax.data import sids

DEFAULT_SP_VOCAB_SIZE = 3000
PAD_ID, EOS_ID, UNK_ID = 0, 1, 2
_FORMAT_VERSION = 1
_MAX_TEXT_CHARS = 2000  # SentencePiece skips longer training sentences.


def read_enrich(data_dir: str, respect_view: bool = True) -> tuple[dict[str, str], dict[str, list[str]]]:
  """Captions and interests of a dataset ({} when the enrich stage has not run).

  `respect_view` applies the `enrich/view.json` ablation view (see gr_jax.enrich).
  """
  return (enrich.load_captions(data_dir, respect_view=respect_view),
          enrich.load_interests(data_dir, respect_view=respect_view))


def catalog_text(data_dir: str) -> list[str]:
  """Titles, descriptions, clean captions and interest tags of the catalog, one sentence each."""
  captions, interests = read_enrich(data_dir, respect_view=False)
  lines = []
  for item in schema.read_items(data_dir):
    lines.extend([item.title, item.description])
    lines.append(captions.get(item.item_id, ""))
    lines.append(", ".join(interests.get(item.item_id, [])))
  return [s[:_MAX_TEXT_CHARS] for s in lines if s and s.strip()]


def _train_sentencepiece(sentences: list[str], vocab_size: int) -> sentencepiece_model_pb2.ModelProto:
  """Trains a unigram model with T5 ids and exact round trips (byte fallback, no normalization).

  `vocab_size` is raised if needed to hold the 256 byte pieces and every
  character. The only normalization rule maps the noncharacter U+FFFF to U+FFFD: an empty
  rule set would make tensorflow-text log a line every time it loads the model.
  """
  # Byte-fallback pieces, specials and required characters must fit.
  vocab_size = max(vocab_size, 256 + 3 + len(set("".join(sentences))) + 8)
  buf = io.BytesIO()
  with tempfile.TemporaryDirectory() as tmp:
    rules = os.path.join(tmp, "rules.tsv")
    with open(rules, "w", encoding="utf-8") as f:
      f.write("FFFF\tFFFD\n")
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter(sentences), model_writer=buf, vocab_size=vocab_size,
        model_type="unigram", pad_id=PAD_ID, eos_id=EOS_ID, unk_id=UNK_ID, bos_id=-1,
        byte_fallback=True, normalization_rule_tsv=rules, remove_extra_whitespaces=False,
        add_dummy_prefix=False, split_digits=True, hard_vocab_limit=False,
        character_coverage=0.9995, num_threads=1, minloglevel=2)
  model = sentencepiece_model_pb2.ModelProto.FromString(buf.getvalue())
  model.normalizer_spec.ClearField("normalization_rule_tsv")
  model.denormalizer_spec.ClearField("normalization_rule_tsv")
  return model


def _fingerprint(data_dir: str, sid_layout: dict, sp_vocab_size: int,
                 extra_text: Sequence[str]) -> str:
  h = hashlib.sha256(f"v{_FORMAT_VERSION}|{sp_vocab_size}|".encode())
  h.update(json.dumps(sid_layout, sort_keys=True).encode())
  h.update("\n".join(extra_text).encode())
  for rel in (layout.ITEMS, os.path.join(layout.ENRICH_DIR, layout.CAPTIONS),
              os.path.join(layout.ENRICH_DIR, layout.INTERESTS)):
    path = os.path.join(data_dir, rel)
    h.update(rel.encode())
    if os.path.exists(path):
      with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
          h.update(chunk)
  return h.hexdigest()


def build_vocabulary(data_dir: str, tokenizer_run: str, sp_vocab_size: int = DEFAULT_SP_VOCAB_SIZE,
                     out_dir: str | None = None, extra_text: Iterable[str] = (),
                     force: bool = False) -> str:
  """Trains and saves the vocabulary of a dataset + tokenizer run; returns its directory.

  The SentencePiece part is trained on the catalog text plus `extra_text` (gr_jax_tasks
  passes its prompt phrasings); SID tokens of every modality in
  `DIR/tokenizer/<run>/sids.json` are appended as atomic pieces. Skipped when
  the saved vocabulary was built from identical inputs.
  """
  out_dir = out_dir or layout.vocab_dir(data_dir, tokenizer_run)
  sid_layout = sids.read_layout(layout.sids_path(data_dir, tokenizer_run))
  extra_text = list(extra_text)
  fingerprint = _fingerprint(data_dir, sid_layout, sp_vocab_size, extra_text)
  meta_path = os.path.join(out_dir, layout.VOCAB_META)
  if not force and os.path.exists(meta_path) and os.path.exists(os.path.join(out_dir, layout.VOCAB_MODEL)):
    if io_utils.read_json(meta_path).get("fingerprint") == fingerprint:
      return out_dir
  logging.info("Training SentencePiece (%d pieces) for %s", sp_vocab_size, out_dir)
  model = _train_sentencepiece(catalog_text(data_dir) + extra_text, sp_vocab_size)
  num_text_pieces = len(model.pieces)
  modalities = {}
  for mod, spec in sid_layout.items():
    start = len(model.pieces)
    for token in sids.tokens_for(spec["prefixes"], spec["codebook_sizes"]):
      model.pieces.add(piece=token, score=0.0,
                       type=sentencepiece_model_pb2.ModelProto.SentencePiece.USER_DEFINED)
    modalities[mod] = dict(spec, first_id=start, end_id=len(model.pieces))
  with io_utils.atomic_open(os.path.join(out_dir, layout.VOCAB_MODEL), "wb") as f:
    f.write(model.SerializeToString())
  io_utils.atomic_write_json(meta_path, {
      "format_version": _FORMAT_VERSION, "fingerprint": fingerprint, "data_dir": os.path.abspath(data_dir),
      "tokenizer_run": tokenizer_run, "sp_vocab_size": sp_vocab_size,
      "num_text_pieces": num_text_pieces, "vocab_size": len(model.pieces), "modalities": modalities})
  # seqio caches parsed models by path; drop it so a rebuilt file is re-read.
  seqio_vocabularies._load_model_internal.cache_clear()  # pylint: disable=protected-access
  return out_dir


class GrVocabulary(seqio.SentencePieceVocabulary):
  """SentencePiece text pieces + atomic SID tokens; pad=0, eos=1, unk=2, no extra ids.

  `builder`, if given, is called (once) before the model is first read, so a
  vocabulary can be registered with seqio before it is trained.
  """

  def __init__(self, vocab_dir: str, builder: Callable[[], object] | None = None):
    self._vocab_dir = os.path.abspath(vocab_dir)
    self._builder = builder
    self._meta = None
    super().__init__(os.path.join(self._vocab_dir, layout.VOCAB_MODEL), extra_ids=0)

  def __getstate__(self):
    state = super().__getstate__()
    state["_meta"] = None
    state.pop("_tf_tokenizer", None)
    return state

  def _model_context(self):
    if self._model is None and self._builder is not None:
      self._builder()
      self._builder = None
    return super()._model_context()

  @property
  def tf_tokenizer(self):
    """One tensorflow-text tokenizer per vocabulary (seqio builds a new one per access)."""
    if getattr(self, "_tf_tokenizer", None) is None:
      with tf.init_scope():  # Eager, so tf.data graphs can share its resource.
        self._tf_tokenizer = super().tf_tokenizer
    return self._tf_tokenizer

  @property
  def vocab_dir(self) -> str:
    return self._vocab_dir

  @property
  def meta(self) -> dict:
    """The saved `vocab.json` (SID layout and id ranges per modality)."""
    if self._meta is None:
      self._model_context()
      self._meta = io_utils.read_json(os.path.join(self._vocab_dir, layout.VOCAB_META))
    return self._meta

  @property
  def modalities(self) -> list[str]:
    return sorted(self.meta["modalities"])

  @property
  def num_text_pieces(self) -> int:
    """Ids below this are text pieces; SID tokens come after."""
    return self.meta["num_text_pieces"]

  def sid_id_range(self, modality: str) -> tuple[int, int]:
    """[start, end) ids of all SID tokens of a modality."""
    spec = self.meta["modalities"][modality]
    return spec["first_id"], spec["end_id"]

  def sid_level_ids(self, modality: str, level: int) -> tuple[int, int]:
    """[start, end) ids of the codes of one level of a modality."""
    spec = self.meta["modalities"][modality]
    start = spec["first_id"] + sum(spec["codebook_sizes"][:level])
    return start, start + spec["codebook_sizes"][level]

  @functools.cached_property
  def _sid_ids(self) -> dict[str, int]:
    ids = {}
    for spec in self.meta["modalities"].values():
      tokens = sids.tokens_for(spec["prefixes"], spec["codebook_sizes"])
      ids.update(zip(tokens, range(spec["first_id"], spec["first_id"] + len(tokens))))
    return ids

  def sid_token_id(self, token: str) -> int:
    """Id of one SID token such as `<a_12>`; KeyError if it is not in the vocabulary."""
    try:
      return self._sid_ids[token]
    except KeyError:
      raise KeyError(f"{token!r} is not a SID token of {self._vocab_dir}") from None

  def sid_token_ids(self, tokens: str | Sequence[str]) -> list[int]:
    """Ids of a SID given as tokens (`["<a_1>", "<b_2>"]`) or as one string (`"<a_1><b_2>"`)."""
    return [self.sid_token_id(t) for t in sids.split_sid(tokens)]

  def is_sid_id(self, token_id: int) -> bool:
    return self.num_text_pieces <= token_id < self._base_vocab_size

  def __eq__(self, other):
    return isinstance(other, GrVocabulary) and other._vocab_dir == self._vocab_dir

  def __str__(self) -> str:
    return f"GrVocabulary(dir={self._vocab_dir})"


def load_vocabulary(path_or_data_dir: str, tokenizer_run: str | None = None) -> GrVocabulary:
  """Loads a vocabulary from its directory, or from `DATA_DIR/vocab/<tokenizer_run>/`.

  With a dataset directory and no `tokenizer_run`, the dataset must hold exactly one vocabulary.
  """
  if os.path.exists(os.path.join(path_or_data_dir, layout.VOCAB_META)) and tokenizer_run is None:
    vocab_dir = path_or_data_dir
  else:
    root = os.path.join(path_or_data_dir, layout.VOCAB_DIR)
    if tokenizer_run is None:
      runs = sorted(d for d in os.listdir(root) if os.path.exists(os.path.join(root, d, layout.VOCAB_META))) \
          if os.path.isdir(root) else []
      if len(runs) != 1:
        raise FileNotFoundError(f"{root}: expected exactly one built vocabulary, found {runs}; "
                                "pass tokenizer_run")
      tokenizer_run = runs[0]
    vocab_dir = os.path.join(root, tokenizer_run)
  if not os.path.exists(os.path.join(vocab_dir, layout.VOCAB_META)):
    raise FileNotFoundError(f"{vocab_dir}: no vocabulary built (run build_vocabulary)")
  vocab = GrVocabulary(vocab_dir)
  vocab.load_model()
  return vocab
