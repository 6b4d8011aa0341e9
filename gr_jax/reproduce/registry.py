"""Papers, their datasets (peer files each needs) and the methods `gr-jax reproduce` can run."""

from __future__ import annotations

import dataclasses
import os
from typing import Optional

from gr_jax.reproduce import published


class ReproduceError(ValueError):
  """Bad flags or input files: one line naming the flag or the file."""


@dataclasses.dataclass(frozen=True)
class Dataset:
  """One dataset as a peer published it (file names use `name`, the peer's <D>)."""
  name: str
  source: str  # `gr-jax prepare --source`.
  files: tuple[str, ...]  # Needed for every row ({D} = name).
  peer_sids: dict  # {modality: file} of the peer's published SIDs.
  ours_files: dict  # {modality: file} needed to compute our own SIDs (text/embeddings).
  where: str  # Where a user finds the files.


@dataclasses.dataclass(frozen=True)
class Method:
  """A row of a paper's table that gr_jax implements."""
  name: str
  kind: str  # 'generative' or 'sasrec'.
  train_method: Optional[str] = None  # gr_jax_tasks method of the T5 run.
  modalities: tuple[str, ...] = ()  # SID modalities the row needs.


@dataclasses.dataclass(frozen=True)
class Paper:
  name: str
  title: str
  table: str  # The table `reproduce.md` compares against.
  datasets: tuple[str, ...]
  methods: tuple[str, ...]


_MQL4GREC_FILES = ("{D}.inter.json",)
_MQL4GREC_SIDS = {"text": "{D}.index_lemb.json", "image": "{D}.index_vitemb.json"}
# MQL4GRec's features (data/<D>/ upstream): LLaMA text and ViT-L/14 image embeddings, row = item id.
_MQL4GREC_NPY = {"text": "{D}.emb-llama-td.npy", "image": "{D}.emb-ViT-L-14.npy"}
_MQL4GREC_WHERE = "MQL4GRec data/<D>/ (github.com/zhaijianyang/MQL4GRec)"

DATASETS = {
    # MACRec Table 1/2 use MQL4GRec's processing of Amazon 2018 (5-core, items with images).
    "Instruments": Dataset("Instruments", "lcrec", _MQL4GREC_FILES, _MQL4GREC_SIDS, _MQL4GREC_NPY,
                           _MQL4GREC_WHERE),
    "Arts": Dataset("Arts", "lcrec", _MQL4GREC_FILES, _MQL4GREC_SIDS, _MQL4GREC_NPY,
                    _MQL4GREC_WHERE),
    "Games": Dataset("Games", "lcrec", _MQL4GREC_FILES, _MQL4GREC_SIDS, _MQL4GREC_NPY,
                     _MQL4GREC_WHERE),
    # UniSRec's Scientific (RecBole atomic files with text): in neither paper; gr_jax's own
    # real-data benchmark, reported without published numbers.
    "Scientific": Dataset("Scientific", "recbole",
                          ("{D}.train.inter", "{D}.valid.inter", "{D}.test.inter", "{D}.text",
                           "{D}.item2index"),
                          {}, {"text": "{D}.text"}, "UniSRec / CoWPiRec dataset/Scientific/"),
    # LC-Rec's split of Amazon 2018 Musical Instruments (24,772 users, not MACRec's 17,112) with
    # LETTER's published 4 x 256 SIDs (`{D}.index.json`, 25 items share a SID); no item text,
    # so only the SID-only rows (TIGER on LETTER's SIDs) and SASRec. In neither paper.
    "Instruments_LCRec": Dataset("Instruments", "lcrec", ("{D}.inter.json",),
                                 {"text": "{D}.index.json"}, {},
                                 "LETTER data/<D>/ (github.com/HonghuiBao2000/LETTER)"),
}

METHODS = {
    "sasrec": Method("sasrec", "sasrec"),
    "tiger": Method("tiger", "generative", "tiger", ("text",)),
    # MQL4GRec without its cross-domain pre-training (as MACRec ran it, Sec. 5.4): text- and
    # image-SID tasks + cross-modal translation, both modalities' beams ensembled.
    "mql4grec": Method("mql4grec", "generative", "macrec", ("text", "image")),
    "macrec": Method("macrec", "generative", "macrec", ("text", "image")),
    "trialign": Method("trialign", "generative", "trialign", ("fused",)),
}

PAPERS = {
    "macrec": Paper("macrec", "MACRec (arXiv 2511.15122)", "Table 2",
                    ("Instruments", "Arts", "Games"), ("sasrec", "tiger", "mql4grec", "macrec")),
    # TriAlignGR publishes no numeric table; its datasets (Beauty/Sports/Toys) have no peer
    # files here, so the registered datasets are gr_jax's own benchmarks: Scientific, and LC-Rec's
    # Instruments split with LETTER's SIDs.
    "trialign": Paper("trialign", "TriAlignGR (arXiv 2605.05249)", "none published",
                      ("Scientific", "Instruments_LCRec"), ("sasrec", "tiger", "trialign")),
}


def paper(name: str) -> Paper:
  if name not in PAPERS:
    raise ReproduceError(f"--paper {name!r}: unknown; choose from {', '.join(sorted(PAPERS))}")
  return PAPERS[name]


def dataset(paper_name: str, name: str) -> Dataset:
  """The dataset `name` of a paper; an unknown one names the flag and the choices."""
  p = paper(paper_name)
  if name not in p.datasets:
    in_csv = published.datasets(paper_name)
    raise ReproduceError(
        f"--dataset {name!r}: not a dataset of --paper {paper_name} "
        f"(choose from {', '.join(p.datasets)}; published.csv has {', '.join(in_csv) or 'none'})")
  return DATASETS[name]


def method(paper_name: str, name: str) -> Method:
  p = paper(paper_name)
  if name not in p.methods:
    other = sorted({r.method for r in published._rows(published.CSV_PATH)  # pylint: disable=protected-access
                    if r.paper == paper_name and r.method != "dataset"} - set(p.methods))
    extra = f"; published only, not implemented in gr_jax: {', '.join(other)}" if other else ""
    raise ReproduceError(f"--method {name!r}: choose from {', '.join(p.methods)}{extra}")
  return METHODS[name]


def file_path(raw_dir: str, ds: Dataset, template: str) -> str:
  return os.path.join(raw_dir, template.format(D=ds.name))


def require_files(raw_dir: str, ds: Dataset, templates, why: str) -> None:
  """Raises one line naming the first missing file (and what needs it)."""
  if not os.path.isdir(raw_dir):
    raise ReproduceError(f"--raw_dir {raw_dir}: not a directory")
  for t in templates:
    path = file_path(raw_dir, ds, t)
    if not os.path.exists(path):
      raise ReproduceError(f"{path}: missing ({why}; get it from {ds.where})")
