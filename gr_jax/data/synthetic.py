"""Synthetic multimodal catalog: latent item factors drive text, PNG images and user sequences.

Every item has latent factors. `department`, `category` and `style` show in both the text
and the image; `audience`, `material` and `price_tier` only in the text; `colour` and
`pattern` only in the image (never named in a title or description), so an image encoder
adds information a text encoder cannot see. Users hold interest mixtures over categories
and affinities for colour, pattern, style, audience and price tier; their sequences mix
repeat-category and complementary-category transitions, mixture draws, noise and a
popularity skew. Everything is vectorised with numpy (1M items in seconds) and
deterministic by seed. Vocabulary and text rendering: synthetic_text; images: synthetic_images.
"""

from __future__ import annotations

import contextlib
import dataclasses
import gc
import os

import numpy as np
import tqdm

from gr_jax.data import schema
from gr_jax.data import synthetic_text as vocab

FACTOR_NAMES = ["department", "category", "style", "colour", "pattern", "audience", "material",
                "price_tier"]
SHARED_FACTORS = ["department", "category", "style"]
IMAGE_ONLY_FACTORS = ["colour", "pattern"]
TEXT_ONLY_FACTORS = ["audience", "material", "price_tier"]
FACTOR_VALUES = {
    "department": vocab.DEPARTMENT_NAMES, "category": vocab.CATEGORY_NAMES,
    "style": vocab.STYLE_NAMES, "colour": vocab.COLOUR_NAMES, "pattern": vocab.PATTERN_NAMES,
    "audience": vocab.AUDIENCE_NAMES, "material": vocab.MATERIAL_NAMES,
    "price_tier": vocab.TIER_NAMES}
_COLOUR_P = vocab.COLOUR_PRIOR / vocab.COLOUR_PRIOR.sum()


@dataclasses.dataclass(frozen=True)
class SequenceConfig:
  """Probabilities of the next-category process and sequence lengths."""
  p_repeat: float = 0.3  # Next item from the same category.
  p_complement: float = 0.35  # Next item from a complementary category (primary 80%).
  p_noise: float = 0.08  # Next category uniform at random; the rest follows the user's mixture.
  p_random_item: float = 0.04  # Next item uniform over the whole catalog.
  candidates: int = 24  # Popularity-drawn candidates re-ranked by the user's factor affinity.
  min_len: int = 5
  max_len: int = 30
  mean_extra_len: float = 9.0  # Lengths are min_len + geometric extra, capped at max_len.
  popularity_sigma: float = 0.8  # Log-normal item popularity skew.


@dataclasses.dataclass
class SyntheticCatalog:
  """Generated items, user sequences and ground-truth factors (see module docstring)."""
  items: list[schema.Item]
  sequences: list[tuple[str, list[str]]]
  factors: dict  # JSON for latent_factors.json.
  codes: dict[str, np.ndarray] = dataclasses.field(default_factory=dict)  # factor -> [N] int32.
  popularity: np.ndarray | None = None  # [N] float64 item popularity weights.
  # Each user's hidden taste, in user order: "mixture" [U, C] category interest (sums to 1)
  # and "affinity" {factor: [U, V]} (gr_jax.data.synthetic_ceiling scores with them).
  users: dict = dataclasses.field(default_factory=dict)


def _sample_items(rng: np.random.Generator, n: int) -> dict[str, np.ndarray]:
  """Latent factor codes [N] of every item."""
  n_cat = len(vocab.CATEGORY_NAMES)
  cat_p = rng.dirichlet(np.full(n_cat, 8.0))
  category = rng.choice(n_cat, size=n, p=cat_p)
  category[:n_cat] = rng.permutation(n_cat)  # Every category has items.
  department = vocab.CATEGORY_DEPARTMENT[category]
  tier = rng.choice(4, size=n, p=[0.3, 0.35, 0.25, 0.1])
  brand_tier = np.where(rng.random(n) < 0.85, tier, rng.integers(0, 4, n))
  codes = {
      "department": department, "category": category,
      "style": rng.integers(0, len(vocab.STYLE_NAMES), n),
      "colour": rng.choice(len(vocab.COLOUR_NAMES), size=n, p=_COLOUR_P),
      "pattern": rng.choice(len(vocab.PATTERN_NAMES), size=n,
                            p=[0.3, 0.15, 0.15, 0.15, 0.1, 0.15]),
      "audience": rng.choice(len(vocab.AUDIENCE_NAMES), size=n,
                             p=[0.12, 0.22, 0.22, 0.34, 0.1]),
      "material": vocab.CATEGORY_MATERIAL_CODES[category, rng.integers(0, 3, n)],
      "price_tier": tier,
      "brand": department * 8 + brand_tier * 2 + rng.integers(0, 2, n),
  }
  return {k: v.astype(np.int32) for k, v in codes.items()}


def sample_user_tastes(rng: np.random.Generator, n_users: int) -> tuple[np.ndarray, dict]:
  """Draws users' hidden tastes from the generator's prior.

  Returns (cumulative category mixture [U, C], {factor: affinity [U, V]}) in float32;
  gr_jax.data.synthetic_ceiling reuses the prior to infer a taste from a history.
  """
  u_idx = np.arange(n_users)
  n_dep, n_cat = len(vocab.DEPARTMENT_NAMES), len(vocab.CATEGORY_NAMES)
  n_fav = rng.choice([1, 2, 3], size=n_users, p=[0.4, 0.4, 0.2])
  rank = np.argsort(np.argsort(rng.random((n_users, n_dep)), axis=1), axis=1)
  fav_dep = (rank < n_fav[:, None]).astype(np.float32)
  mix = rng.gamma(0.7, size=(n_users, n_cat)).astype(np.float32) + 1e-3
  mix *= 1.0 + 12.0 * fav_dep[:, vocab.CATEGORY_DEPARTMENT]
  cum = np.cumsum(mix, axis=1)
  cum /= cum[:, -1:]
  strength = rng.uniform(0.6, 1.4, n_users).astype(np.float32)[:, None]

  def favourite(n_values, p, weight, p_second=0.0, weight_second=0.0, p_any=1.0):
    aff = np.zeros((n_users, n_values), np.float32)
    has = rng.random(n_users) < p_any
    aff[u_idx[has], rng.choice(n_values, size=n_users, p=p)[has]] = weight
    second = rng.random(n_users) < p_second
    c2 = rng.choice(n_values, size=n_users, p=p)
    aff[u_idx[second], c2[second]] = np.maximum(aff[u_idx[second], c2[second]], weight_second)
    return aff

  uniform = lambda k: np.full(k, 1.0 / k)
  aff = {
      # Favourite colour (+2.5), half the users a second one (+1.3): an image-only taste.
      "colour": favourite(len(vocab.COLOUR_NAMES), _COLOUR_P, 2.5, 0.5, 1.3),
      "pattern": favourite(len(vocab.PATTERN_NAMES), uniform(6), 1.2, p_any=0.6),
      "style": favourite(len(vocab.STYLE_NAMES), uniform(6), 1.8, 0.3, 0.9),
      "audience": favourite(len(vocab.AUDIENCE_NAMES), [0.12, 0.3, 0.3, 0.13, 0.15], 1.5),
  }
  aff["audience"][:, vocab.AUDIENCE_NAMES.index("everyone")] = 0.8
  user_tier = rng.choice(4, size=n_users, p=[0.3, 0.35, 0.25, 0.1])
  tier_gap = np.abs(np.arange(4)[None, :] - user_tier[:, None])
  aff["price_tier"] = (-0.9 * tier_gap).astype(np.float32)
  for k in aff:
    aff[k] *= strength
  return cum, aff


def _alias_tables(weights_CxL: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
  """Walker/Vose alias tables (accept probability, alias) for each row of weights."""
  n_rows, n_cols = weights_CxL.shape
  prob_CxL = np.ones((n_rows, n_cols))
  alias_CxL = np.tile(np.arange(n_cols), (n_rows, 1))
  for r in range(n_rows):
    scaled = weights_CxL[r] * n_cols / weights_CxL[r].sum()
    small = [j for j in range(n_cols) if scaled[j] < 1.0]
    large = [j for j in range(n_cols) if scaled[j] >= 1.0]
    while small and large:
      s, l = small.pop(), large.pop()
      prob_CxL[r, s], alias_CxL[r, s] = scaled[s], l
      scaled[l] -= 1.0 - scaled[s]
      (small if scaled[l] < 1.0 else large).append(l)
  return prob_CxL, alias_CxL


class _CategorySampler:
  """Draws items of given categories in proportion to popularity, O(1) per draw.

  Popularity takes a few discrete levels, so a draw picks a (category, level) bucket with
  an alias table, then an item uniformly inside the bucket.
  """

  def __init__(self, category: np.ndarray, pop: np.ndarray, n_cat: int):
    level_w, levels = np.unique(pop, return_inverse=True)
    self.n_lev = len(level_w)
    key = category.astype(np.int64) * self.n_lev + levels
    self.by_key = np.argsort(key, kind="stable")
    self.counts = np.bincount(key, minlength=n_cat * self.n_lev)
    self.starts = np.cumsum(self.counts) - self.counts
    self.prob, alias = _alias_tables(self.counts.reshape(n_cat, self.n_lev) * level_w)
    self.alias = alias + np.arange(n_cat)[:, None] * self.n_lev  # Absolute bucket ids.

  def draw(self, rng: np.random.Generator, cat_N: np.ndarray, k: int) -> np.ndarray:
    """[N, k] item indices; row i holds items of category cat_N[i]."""
    col = rng.integers(0, self.n_lev, (len(cat_N), k))
    own = cat_N[:, None] * self.n_lev + col
    bucket = np.where(rng.random(col.shape) < self.prob[cat_N[:, None], col], own,
                      self.alias[cat_N[:, None], col])
    offset = (rng.random(col.shape) * self.counts[bucket]).astype(np.int64)
    return self.by_key[self.starts[bucket] + offset]


def _sample_sequences(rng: np.random.Generator, codes: dict[str, np.ndarray], pop: np.ndarray,
                      n_users: int, cfg: SequenceConfig,
                      progress: bool) -> tuple[np.ndarray, np.ndarray, dict]:
  """(item indices [U, max_len] in user order, lengths [U], user latents in user order)."""
  cum_mix, aff = sample_user_tastes(rng, n_users)
  users = {"mixture": np.diff(cum_mix, axis=1, prepend=0.0), "affinity": dict(aff)}
  extra = rng.geometric(1.0 / (cfg.mean_extra_len + 1.0), n_users) - 1
  lengths = np.minimum(cfg.min_len + extra, cfg.max_len)
  # Users run in slots sorted by length (longest first) so the active users are a prefix.
  slot_user = np.argsort(-lengths, kind="stable")
  lengths_s = lengths[slot_user]
  cum_mix = cum_mix[slot_user]
  # One flat [U * V] affinity table; item_cols_NxF are the items' column ids in it.
  pref = ("colour", "pattern", "style", "audience", "price_tier")
  aff_UxV = np.concatenate([aff[k] for k in pref], axis=1)[slot_user]
  n_values = aff_UxV.shape[1]
  offsets = np.cumsum([0] + [aff[k].shape[1] for k in pref[:-1]])
  item_cols_NxF = (np.stack([codes[k] for k in pref], 1) + offsets).astype(np.int32)
  category = codes["category"]
  n_items, n_cat = len(category), len(vocab.CATEGORY_NAMES)
  sampler = _CategorySampler(category, pop, n_cat)
  comp = np.array([[vocab.CATEGORY_NAMES.index(c) for c in vocab.COMPLEMENTS[name]]
                   for name in vocab.CATEGORY_NAMES])  # [C, 2] primary, secondary.
  hist = np.zeros((n_users, cfg.max_len), np.int32)
  cats = np.zeros((n_users, cfg.max_len), np.int32)
  p1 = cfg.p_repeat
  p2 = p1 + cfg.p_complement
  p3 = p2 + cfg.p_noise
  steps = int(lengths.max(initial=0))
  for t in tqdm.trange(steps, desc="synthetic sequences", disable=not progress):
    n = int(np.searchsorted(-lengths_s, -t, side="left"))  # Slots with length > t.
    mixture = (cum_mix[:n] < rng.random((n, 1), np.float32)).sum(1)
    mixture = np.minimum(mixture, n_cat - 1)
    if t == 0:
      cat = mixture
    else:
      prev = cats[:n, t - 1]
      r = rng.random(n)
      secondary = (rng.random(n) > 0.8).astype(np.int64)
      cat = np.select([r < p1, r < p2, r < p3],
                      [prev, comp[prev, secondary], rng.integers(0, n_cat, n)], mixture)
    cand = sampler.draw(rng, cat, cfg.candidates)
    flat = item_cols_NxF[cand] + (np.arange(n, dtype=np.int32) * n_values)[:, None, None]
    score = aff_UxV.reshape(-1).take(flat).sum(-1)
    score -= np.log(-np.log(rng.random(cand.shape, np.float32) + 1e-12))  # Gumbel-max.
    for back in range(1, min(t, 3) + 1):  # No item repeats one of the last three.
      score[cand == hist[:n, t - back][:, None]] = -np.inf
    chosen = cand[np.arange(n), score.argmax(1)]
    redraw = rng.random(n) < cfg.p_random_item
    for _ in range(100):  # Uniform random item; also replaces a (rare) forced recent repeat.
      chosen[redraw] = rng.integers(0, n_items, int(redraw.sum()))
      recent = hist[:n, max(0, t - 3):t]
      redraw = (recent == chosen[:, None]).any(1)
      if not redraw.any():
        break
    hist[:n, t] = chosen
    cats[:n, t] = category[chosen]
  user_slot = np.empty_like(slot_user)
  user_slot[slot_user] = np.arange(n_users)
  return hist[user_slot], lengths, users


@contextlib.contextmanager
def _no_gc():
  """Pauses the cyclic GC while building millions of acyclic objects (3-4x faster)."""
  enabled = gc.isenabled()
  gc.disable()
  try:
    yield
  finally:
    if enabled:
      gc.enable()


def _item_ids(n: int) -> list[str]:
  width = max(6, len(str(max(n - 1, 0))))
  return [f"i{k:0{width}d}" for k in range(n)]


def _user_ids(n: int) -> list[str]:
  width = max(5, len(str(max(n - 1, 0))))
  return [f"u{k:0{width}d}" for k in range(n)]


def generate(n_items: int = 2000, n_users: int = 3000, seed: int = 0,
             image_dir: str | None = None, image_size: int = 64, progress: bool = True,
             config: SequenceConfig = SequenceConfig()) -> SyntheticCatalog:
  """Generates the catalog; with `image_dir`, writes `<image_dir>/<item_id>.png` per item.

  `Item.image` is then `<basename(image_dir)>/<item_id>.png`, i.e. relative to the dataset
  dir when `image_dir` is `DIR/images`; without `image_dir` it is None. Items, sequences and
  image bytes depend only on (n_items, n_users, seed, image_size).
  """
  if n_items < len(vocab.CATEGORY_NAMES):
    raise ValueError(f"n_items must be at least {len(vocab.CATEGORY_NAMES)} "
                     f"(one per category), got {n_items}")
  if n_users < 0:
    raise ValueError(f"n_users must be non-negative, got {n_users}")
  item_seq, text_seq, user_seq, image_seq = np.random.SeedSequence(seed).spawn(4)
  item_rng = np.random.default_rng(item_seq)
  codes = _sample_items(item_rng, n_items)
  # Log-normal popularity, quantised to 25 levels (exact O(1) popularity-weighted draws).
  level = np.clip(np.round(4.0 * item_rng.standard_normal(n_items)), -12, 12)
  pop = np.exp(config.popularity_sigma * level / 4.0)
  titles, descs = vocab.render_texts(np.random.default_rng(text_seq), codes)
  hist, lengths, users = _sample_sequences(np.random.default_rng(user_seq), codes, pop, n_users,
                                           config, progress)
  ids = _item_ids(n_items)
  if image_dir is not None:
    from gr_jax.data import synthetic_images  # pylint: disable=g-import-not-at-top
    synthetic_images.write_images(codes, ids, image_dir, image_size,
                                  np.random.default_rng(image_seq), progress=progress)
    prefix = os.path.basename(os.path.normpath(image_dir)) + "/"
    images = [prefix + i + ".png" for i in ids]
  else:
    images = [None] * n_items
  deps = vocab.obj_array(vocab.DEPARTMENT_NAMES)[codes["department"]].tolist()
  cats = vocab.obj_array(vocab.CATEGORY_NAMES)[codes["category"]].tolist()
  brands = vocab.obj_array(vocab.BRAND_NAMES)[codes["brand"]].tolist()
  ids_obj = vocab.obj_array(ids)
  with _no_gc():
    items = [schema.Item(i, t, d, b, [dn, cn], im) for i, t, d, b, dn, cn, im in
             zip(ids, titles.tolist(), descs.tolist(), brands, deps, cats, images)]
    sequences = [(u, ids_obj[row[:n]].tolist()) for u, row, n in
                 zip(_user_ids(n_users), hist, lengths.tolist())]
    factor_items = {
        i: {"department": a, "category": b, "style": c, "colour": d, "pattern": e,
            "audience": f, "material": g, "price_tier": h}
        for i, a, b, c, d, e, f, g, h in zip(ids, *(codes[k].tolist() for k in FACTOR_NAMES))}
  factors = {
      "factor_names": list(FACTOR_NAMES),
      "shared_factors": list(SHARED_FACTORS),
      "image_only_factors": list(IMAGE_ONLY_FACTORS),
      "text_only_factors": list(TEXT_ONLY_FACTORS),
      "values": {f: list(v) for f, v in FACTOR_VALUES.items()},
      "complements": {c: list(v) for c, v in vocab.COMPLEMENTS.items()},
      "generator": {"seed": seed, "n_items": n_items, "n_users": n_users,
                    "image_size": image_size if image_dir is not None else None,
                    "sequence_config": dataclasses.asdict(config)},
      "items": factor_items,
  }
  return SyntheticCatalog(items=items, sequences=sequences, factors=factors,
                          codes={f: codes[f] for f in FACTOR_NAMES}, popularity=pop,
                          users=users)
