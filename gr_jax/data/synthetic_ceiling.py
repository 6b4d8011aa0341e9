"""How well can anyone predict the synthetic catalog's next item? Bayes ceilings of the demo.

The generator (gr_jax.data.synthetic) picks the next category from the last item's
(repeat / complement), uniform noise or the user's category mixture, then the item as the
best of `candidates` popularity-drawn items of that category under the user's factor
affinities plus Gumbel noise (never one of the last three), or, rarely, uniformly. Given the
generator's own parameters, `next_item_probs` gives the distribution of the next item:

* mode "full": with the user's hidden mixture and affinities (`SyntheticCatalog.users`): the
  ceiling of a recommender that knew each user's taste exactly;
* mode "markov": with the population-average mixture and no affinities: the ceiling of a
  recommender that knew the category process and the popularity but nothing of the user
  beyond the last item's category;
* mode "history": with the mixture and affinities inferred from the history alone (their
  posterior means under the generator's prior, `NextItemProcess.inferred_taste`): a real
  recommender that sees what a trained model sees, so what a model that infers each user's
  taste from their ~13 items could reach. It lies between the other two;
* mode "history_text": the same with only the tastes a text encoder can see (style, audience,
  price tier; colour and pattern show only in the images): the bound of text-only SIDs.

The within-category choice (max of Gumbel scores over candidates drawn with replacement)
has no closed form; it is estimated from `samples` simulated draws per category.
`ceiling_hr` ranks the held-out item by these probabilities: HR@K with standard errors,
comparable to `gr-jax evaluate` on the same users.
"""

from __future__ import annotations

import argparse
import math
import os
from typing import Iterable, Sequence

import numpy as np

from gr_jax import io_utils
from gr_jax.data import layout
from gr_jax.data import synthetic
from gr_jax.data import synthetic_text as vocab

MODES = ("full", "markov", "history", "history_text")
_PREFERENCE_FACTORS = ("colour", "pattern", "style", "audience", "price_tier")
_TEXT_VISIBLE = tuple(f for f in _PREFERENCE_FACTORS if f not in synthetic.IMAGE_ONLY_FACTORS)


class NextItemProcess:
  """The generator's next-item process for one catalog, vectorised over items."""

  def __init__(self, catalog: synthetic.SyntheticCatalog, config: synthetic.SequenceConfig):
    if not catalog.users:
      raise ValueError("catalog has no user latents (generate it with gr_jax.data.synthetic)")
    self.cfg = config
    self.category = catalog.codes["category"]
    self.pop = np.asarray(catalog.popularity, np.float64)
    self.n_items = len(self.category)
    self.n_cat = len(vocab.CATEGORY_NAMES)
    self.by_cat = [np.where(self.category == c)[0] for c in range(self.n_cat)]
    self.comp = np.array([[vocab.CATEGORY_NAMES.index(c) for c in vocab.COMPLEMENTS[name]]
                          for name in vocab.CATEGORY_NAMES])
    self.mixture = np.asarray(catalog.users["mixture"], np.float64)
    aff = catalog.users["affinity"]
    self.affinity = np.concatenate([aff[k] for k in _PREFERENCE_FACTORS], axis=1)
    self.offsets = np.cumsum([0] + [aff[k].shape[1] for k in _PREFERENCE_FACTORS[:-1]])
    self.item_cols = np.stack([catalog.codes[k] for k in _PREFERENCE_FACTORS], 1) + self.offsets
    # The next category: transition[prev] (repeat, complement, noise) + mixture_share * mixture.
    cfg = config
    self.mixture_share = 1.0 - cfg.p_repeat - cfg.p_complement - cfg.p_noise
    self.transition = np.full((self.n_cat, self.n_cat), cfg.p_noise / self.n_cat)
    rows = np.arange(self.n_cat)
    self.transition[rows, rows] += cfg.p_repeat
    self.transition[rows, self.comp[:, 0]] += 0.8 * cfg.p_complement
    self.transition[rows, self.comp[:, 1]] += 0.2 * cfg.p_complement
    self._prior = None

  def _taste_prior(self, n_samples: int = 20000, seed: int = 0) -> dict:
    """Prior draws of the tastes and each factor's per-category value distribution."""
    if self._prior is None:
      cum, aff = synthetic.sample_user_tastes(np.random.default_rng(seed), n_samples)
      factors = []
      for f, k in enumerate(_PREFERENCE_FACTORS):
        a = np.asarray(aff[k], np.float64)  # [M, V_f]
        values = self.item_cols[:, f] - self.offsets[f]
        # base[c, x]: popularity share of value x among category c's items.
        base = np.zeros((self.n_cat, a.shape[1]))
        np.add.at(base, (self.category, values), self.pop)
        base /= np.maximum(base.sum(1, keepdims=True), 1e-300)
        log_z = np.log(np.maximum(base @ np.exp(a).T, 1e-300))  # [C, M]
        factors.append((values, a, log_z))
      self._prior = {"mixture": np.diff(np.asarray(cum, np.float64), axis=1, prepend=0.0),
                     "factors": factors}
    return self._prior

  def inferred_taste(self, history: Sequence[int], factors: Sequence[str] = _PREFERENCE_FACTORS
                     ) -> tuple[np.ndarray, np.ndarray]:
    """(mixture [C], affinity [V]) posterior means given a history of item indices.

    Affinities of preference factors not in `factors` stay 0 (the history cannot show them).

    Each item is taken as drawn from its category with probability proportional to
    popularity x exp(affinity) (the limit of the generator's best-of-`candidates` choice),
    factor by factor; the categories follow `category_probs`. Prior: 20,000 draws of
    `synthetic.sample_user_tastes`, reweighted by the history's likelihood.
    """
    prior = self._taste_prior()
    hist = np.asarray(history, np.int64)
    cats = self.category[hist]
    mix = prior["mixture"]  # [M, C]
    # log P(categories | mixture) per prior draw: the first from the mixture, then the process.
    ll = np.log(np.maximum(mix[:, cats[0]], 1e-300)) + np.log(
        self.transition[cats[:-1], cats[1:]] + self.mixture_share * mix[:, cats[1:]]).sum(1)
    mixture = _posterior_mean(ll, mix)
    affinity = []
    for name, (values, a, log_z) in zip(_PREFERENCE_FACTORS, prior["factors"]):
      if name not in factors:
        affinity.append(np.zeros(a.shape[1]))
        continue
      x = values[hist]
      ll_f = a[:, x].sum(1) - log_z[cats].sum(0)
      affinity.append(_posterior_mean(ll_f, a))
    return mixture, np.concatenate(affinity)

  def category_probs(self, prev_category: int, mixture: np.ndarray) -> np.ndarray:
    """[C] probabilities of the next item's category after one of `prev_category`."""
    return self.transition[prev_category] + self.mixture_share * mixture

  def taste(self, user: int, history: Sequence[int], mode: str) -> tuple[np.ndarray, np.ndarray]:
    """(mixture [C], per-item affinity score [N]) that `mode` ranks with."""
    if mode == "full":
      return self.mixture[user], self.affinity[user][self.item_cols].sum(1)
    if mode in ("history", "history_text"):
      factors = _PREFERENCE_FACTORS if mode == "history" else _TEXT_VISIBLE
      mixture, affinity = self.inferred_taste(history, factors)
      return mixture, affinity[self.item_cols].sum(1)
    return self.mixture.mean(0), np.zeros(self.n_items)


def _posterior_mean(log_lik: np.ndarray, draws: np.ndarray) -> np.ndarray:
  """Mean of prior `draws` [M, D] reweighted by their log-likelihoods [M]."""
  w = np.exp(log_lik - log_lik.max())
  return (w / w.sum()) @ draws


def next_item_probs(process: NextItemProcess, user: int, history: Sequence[int], mode: str,
                    rng: np.random.Generator, samples: int = 512) -> np.ndarray:
  """[N] probabilities of the next item after `history` (item indices, oldest first)."""
  if mode not in MODES:
    raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
  cfg = process.cfg
  recent = np.asarray(history[-3:], np.int64)
  mixture, score = process.taste(user, history, mode)
  p_cat = process.category_probs(int(process.category[history[-1]]), mixture)
  probs = np.zeros(process.n_items)
  for c in np.flatnonzero(p_cat > 1e-4):
    members = process.by_cat[c]
    weights = process.pop[members] / process.pop[members].sum()
    cand = members[rng.choice(len(members), size=(samples, cfg.candidates), p=weights)]
    s = score[cand] - np.log(-np.log(rng.random(cand.shape) + 1e-12))
    s[np.isin(cand, recent)] = -np.inf
    ok = np.isfinite(s).any(1)  # All candidates recent: the generator redraws uniformly.
    chosen = cand[np.arange(samples), s.argmax(1)][ok]
    probs += p_cat[c] * np.bincount(chosen, minlength=process.n_items) / samples
    probs += p_cat[c] * (samples - ok.sum()) / samples / process.n_items
  probs = (1.0 - cfg.p_random_item) * probs + cfg.p_random_item / process.n_items
  probs[recent] = 0.0  # Never one of the last three (uniform draws are redrawn too).
  return probs / probs.sum()


def ceiling_hr(catalog: synthetic.SyntheticCatalog,
               examples: Iterable[tuple[str, Sequence[str], str]], mode: str = "full",
               ks: Sequence[int] = (1, 5, 10),
               items: Sequence[str] | None = None, samples: int = 512, seed: int = 0,
               config: synthetic.SequenceConfig = synthetic.SequenceConfig()) -> dict:
  """HR@K (and its standard error over users) of ranking by `next_item_probs`.

  examples: (user_id, history item ids, target item id), e.g. a split's rows; items: the
  ranked catalog (default all; a 5-core dataset ranks only the items it kept). Ties rank
  the target after every item of equal probability (a pessimistic ceiling).
  """
  process = NextItemProcess(catalog, config)
  index = {it.item_id: i for i, it in enumerate(catalog.items)}
  users = {u: i for i, (u, _) in enumerate(catalog.sequences)}
  ranked = np.zeros(process.n_items, bool)
  ranked[[index[i] for i in (items if items is not None else index)]] = True
  rng = np.random.default_rng(seed)
  ranks = []
  for user, history, target in examples:
    p = next_item_probs(process, users[user], [index[h] for h in history], mode, rng, samples)
    p = np.where(ranked, p, -1.0)
    t = index[target]
    ranks.append(int((p >= p[t]).sum()) - 1)
  ranks = np.asarray(ranks)
  out = {"mode": mode, "n": int(len(ranks))}
  for k in ks:
    hr = float((ranks < k).mean()) if len(ranks) else 0.0
    out[f"HR@{k}"] = hr
    out[f"HR@{k}_se"] = math.sqrt(hr * (1.0 - hr) / max(len(ranks), 1))
  return out


def ceiling_for_dataset(data_dir: str, split: str = "test", max_users: int | None = None,
                        modes: Sequence[str] = MODES, samples: int = 512, seed: int = 0) -> dict:
  """Both ceilings of a `gr-jax prepare --source synthetic` dir (regenerated from its arguments).

  Where 5-core filtering dropped an item from a history, the ceiling conditions on the last
  item the split kept, as the trained models do.
  """
  args = io_utils.read_json(os.path.join(data_dir, layout.PREPARE_DONE))["arguments"]
  if args.get("source") != "synthetic":
    raise ValueError(f"{data_dir}: the ceiling needs a synthetic dataset, got source "
                     f"{args.get('source')!r}")
  catalog = synthetic.generate(args["items"], args["users"], seed=args["seed"], image_dir=None,
                               progress=False)
  rows = [r for _, r in io_utils.read_jsonl(os.path.join(data_dir, layout.SPLITS_DIR,
                                                          f"{split}.jsonl"))]
  rows = rows[:max_users] if max_users else rows
  # The items the dataset kept (5-core); evaluate ranks these.
  items = [r["item_id"] for _, r in io_utils.read_jsonl(os.path.join(data_dir, layout.ITEMS))]
  examples = [(r["user_id"], r["history"], r["target"]) for r in rows]
  return {m: ceiling_hr(catalog, examples, m, items=items, samples=samples, seed=seed)
          for m in modes}


def main(argv: Sequence[str] | None = None) -> int:
  """`python -m gr_jax.data.synthetic_ceiling --data demo_out/data`: prints the ceilings."""
  parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
  parser.add_argument("--data", required=True,
                      help="Dataset dir of `gr-jax prepare --source synthetic`.")
  parser.add_argument("--split", default="test", choices=["valid", "test"])
  parser.add_argument("--max_users", type=int, default=None, help="The first N users only.")
  parser.add_argument("--samples", type=int, default=512, help="Simulated draws per category.")
  parser.add_argument("--modes", default=",".join(MODES),
                      help=f"Comma-separated ceilings to compute, of {','.join(MODES)} "
                      "(see the module docstring).")
  parser.add_argument("--json", default=None,
                      help="Also write {mode: {HR@K, HR@K_se, n}} here (atomically); "
                      "`gr-jax demo` puts it in its report.")
  args = parser.parse_args(argv)
  modes = [m for m in args.modes.split(",") if m]
  unknown = sorted(set(modes) - set(MODES))
  if unknown:
    parser.error(f"--modes: unknown {unknown}; choose from {list(MODES)}")
  result = ceiling_for_dataset(args.data, args.split, args.max_users, modes=modes,
                               samples=args.samples)
  for mode, r in result.items():
    print(f"{mode:12s} n={r['n']}  " + "  ".join(
        f"HR@{k} {r[f'HR@{k}']:.3f} ± {r[f'HR@{k}_se']:.3f}" for k in (1, 5, 10)))
  if args.json:
    io_utils.atomic_write_json(args.json, {"split": args.split, "samples": args.samples,
                                           "ceilings": result})
  return 0


if __name__ == "__main__":
  raise SystemExit(main())
