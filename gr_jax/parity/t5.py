"""T5 parity: gr_jax's train step / decoding vs HF `T5ForConditionalGeneration` + torch AdamW.

gr_jax side: `train.make_optimizer` + `train.make_train_step` (jitted), exactly as
`gr_jax.train` runs them, on `models.EncoderDecoderModel` with the bindings of
`PEER_MODEL_BINDINGS`. HF side: what the Hugging Face `Trainer` does per step with
the same hyper-parameters: `model(..., labels=...)` (mean token cross-entropy),
`loss.backward()`, `clip_grad_norm_`, `torch.optim.AdamW` with the Trainer's
decay groups (`Trainer.get_decay_parameter_names`), the matching `transformers`
warmup schedule. Both start from the same weights (gr_jax init, copied with
`hf_convert`) and see the same batches in the same order.
"""

from __future__ import annotations

import dataclasses
import time
from typing import Callable, Optional, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from gr_jax import decoding
from gr_jax import train
from gr_jax.model import hf_convert
from gr_jax.model import models
from gr_jax.model import t5
from gr_jax.parity import data as pdata

# EncoderDecoderModel / T5Config settings that reproduce HF T5's loss and dropout.
PEER_MODEL_BINDINGS = dict(z_loss=0.0, label_smoothing=0.0, loss_normalization="tokens")
PEER_CONFIG_BINDINGS = dict(dropout_broadcast_dims=())
# Model sizes: "tiny" for the default tests, "small" for benchmarks/parity.py.
SIZES = {
    "tiny": dict(emb_dim=32, num_heads=2, head_dim=16, mlp_dim=64, num_encoder_layers=1,
                 num_decoder_layers=1),
    "small": dict(emb_dim=128, num_heads=4, head_dim=32, mlp_dim=512, num_encoder_layers=2,
                  num_decoder_layers=2),
    "macrec": dict(emb_dim=128, num_heads=6, head_dim=64, mlp_dim=1024, num_encoder_layers=4,
                   num_decoder_layers=4),
}
_HF_SCHEDULES = {"cosine": "get_cosine_schedule_with_warmup",
                 "linear": "get_linear_schedule_with_warmup",
                 "constant": "get_constant_schedule_with_warmup"}


@dataclasses.dataclass(frozen=True)
class OptimizerSettings:
  """`train.make_optimizer` arguments, applied to both stacks."""
  learning_rate: float = 1e-3
  schedule: str = "cosine"
  warmup_steps: int = 30
  weight_decay: float = 0.01
  b1: float = 0.9
  b2: float = 0.999
  eps: float = 1e-8
  clip_norm: float = 1.0
  decay_mask: str = "hf_trainer"  # gr_jax's default is "matrices" (decays relpos tables too).


def make_model(vocab_size: int, size: str = "small", dropout_rate: float = 0.0,
               logits_via_embedding: bool = False) -> models.EncoderDecoderModel:
  cfg = t5.T5Config(vocab_size=vocab_size, dropout_rate=dropout_rate,
                    logits_via_embedding=logits_via_embedding, **SIZES[size],
                    **PEER_CONFIG_BINDINGS)
  return models.EncoderDecoderModel(cfg, **PEER_MODEL_BINDINGS)


def _torch_batch(batch: dict) -> dict:
  import torch  # pylint: disable=g-import-not-at-top
  enc = torch.from_numpy(np.asarray(batch["encoder_input_tokens"], np.int64))
  tgt = np.asarray(batch["decoder_target_tokens"], np.int64)
  return {"input_ids": enc, "attention_mask": (enc > 0).long(),
          "decoder_input_ids": torch.from_numpy(
              np.asarray(batch["decoder_input_tokens"], np.int64)),
          "labels": torch.from_numpy(np.where(tgt > 0, tgt, -100))}


class JaxTrainer:
  """gr_jax's optimizer and jitted train step over a params pytree."""

  def __init__(self, model, params, steps: int, opt: OptimizerSettings, dropout_seed: int = 0):
    self.model = model
    tx, self.lr_fn = train.make_optimizer(steps, **dataclasses.asdict(opt))
    params = jax.tree.map(jnp.asarray, params)
    self.state = train.TrainState(step=jnp.zeros([], jnp.int32), params=params,
                                  opt_state=tx.init(params))
    self._step = jax.jit(train.make_train_step(model, tx, self.lr_fn,
                                               jax.random.PRNGKey(dropout_seed)))
    self._eval = jax.jit(model.eval_sums)

  def step(self, batch: dict) -> float:
    batch = {k: jnp.asarray(v) for k, v in batch.items()}
    self.state, metrics = self._step(self.state, batch)
    return float(metrics["loss"])

  def eval_loss(self, examples: pdata.Examples, batch_size: int) -> float:
    loss = weight = 0.0
    for start in range(0, len(examples), batch_size):
      rows = np.arange(start, min(start + batch_size, len(examples)))
      batch = {k: jnp.asarray(v) for k, v in examples.batch(rows).items()}
      s = self._eval(self.state.params, batch)
      loss += float(s["loss_sum"])
      weight += float(s["weight_sum"])
    return loss / max(weight, 1.0)


class HFTrainer:
  """The Hugging Face `Trainer`'s optimizer step on a `T5ForConditionalGeneration`."""

  def __init__(self, hf_model, steps: int, opt: OptimizerSettings, dropout_seed: int = 0):
    import torch  # pylint: disable=g-import-not-at-top
    import transformers  # pylint: disable=g-import-not-at-top
    torch.manual_seed(dropout_seed)
    self.model = hf_model.train()
    named = dict(hf_model.named_parameters())
    if opt.decay_mask == "hf_trainer":  # The Trainer's own rule (no norms, no "bias" names).
      decay = set(transformers.Trainer.get_decay_parameter_names(None, hf_model))
    elif opt.decay_mask == "matrices":
      decay = {n for n, p in named.items() if p.ndim > 1}
    else:
      decay = set(named)
    groups = [{"params": [p for n, p in named.items() if n in decay],
               "weight_decay": opt.weight_decay},
              {"params": [p for n, p in named.items() if n not in decay], "weight_decay": 0.0}]
    self.opt = torch.optim.AdamW(groups, lr=opt.learning_rate, betas=(opt.b1, opt.b2),
                                 eps=opt.eps)
    if opt.schedule not in _HF_SCHEDULES:
      raise ValueError(f"schedule {opt.schedule!r} has no transformers counterpart")
    warmup = max(0, min(opt.warmup_steps, steps - 1))
    fn = getattr(transformers, _HF_SCHEDULES[opt.schedule])
    self.sched = (fn(self.opt, warmup) if opt.schedule == "constant"
                  else fn(self.opt, warmup, steps))
    self.clip = opt.clip_norm

  def step(self, batch: dict) -> float:
    import torch  # pylint: disable=g-import-not-at-top
    self.model.train()
    loss = self.model(**_torch_batch(batch)).loss
    loss.backward()
    if self.clip:
      torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.clip)
    self.opt.step()
    self.sched.step()
    self.opt.zero_grad()
    return float(loss.detach())

  def eval_loss(self, examples: pdata.Examples, batch_size: int) -> float:
    import torch  # pylint: disable=g-import-not-at-top
    self.model.eval()
    loss = weight = 0.0
    with torch.no_grad():
      for start in range(0, len(examples), batch_size):
        rows = np.arange(start, min(start + batch_size, len(examples)))
        b = examples.batch(rows)
        n = float(np.sum(b["decoder_target_tokens"] > 0))
        loss += float(self.model(**_torch_batch(b)).loss) * n
        weight += n
    return loss / max(weight, 1.0)


def param_diffs(params_jax, params_hf) -> dict[str, float]:
  """||a - b|| / ||b|| per parameter (gr_jax names), HF weights converted back."""
  flat_a = jax.tree_util.tree_flatten_with_path(jax.device_get(params_jax))[0]
  flat_b = dict(jax.tree_util.tree_flatten_with_path(params_hf)[0])
  out = {}
  for path, a in flat_a:
    b = np.asarray(flat_b[path])
    out["/".join(str(getattr(k, "key", k)) for k in path)] = float(
        np.linalg.norm(np.asarray(a) - b) / max(np.linalg.norm(b), 1e-12))
  return out


@dataclasses.dataclass
class TrainParity:
  losses_jax: np.ndarray
  losses_hf: np.ndarray
  param_rel_diff: dict
  seconds: float
  params: object = dataclasses.field(repr=False, default=None)
  hf_model: object = dataclasses.field(repr=False, default=None)

  @property
  def loss_rel_diff(self) -> np.ndarray:
    return np.abs(self.losses_jax - self.losses_hf) / np.maximum(np.abs(self.losses_hf), 1e-12)

  def summary(self) -> dict:
    rel = self.loss_rel_diff
    worst = max(self.param_rel_diff, key=self.param_rel_diff.get)
    return {"steps": int(rel.size), "max_loss_rel_diff": float(rel.max()),
            "worst_step": int(rel.argmax()) + 1, "max_param_rel_diff": self.param_rel_diff[worst],
            "worst_param": worst, "first_loss": float(self.losses_jax[0]),
            "last_loss": float(self.losses_jax[-1]), "seconds": self.seconds}


def train_parity(model: models.EncoderDecoderModel, params, examples: pdata.Examples,
                 order: Sequence[np.ndarray], opt: OptimizerSettings,
                 log: Callable[[str], None] = print, every: int = 50) -> TrainParity:
  """Trains gr_jax and HF from `params` on `examples` rows `order[step]`; compares per step."""
  t0 = time.time()
  steps = len(order)
  hf_model = hf_convert.to_hf_model(params, model.config)
  jt, ht = JaxTrainer(model, params, steps, opt), HFTrainer(hf_model, steps, opt)
  lj, lh = [], []
  for step, rows in enumerate(order):
    batch = examples.batch(rows)
    lj.append(jt.step(batch))
    lh.append(ht.step(batch))
    if (step + 1) % every == 0 or step + 1 == steps:
      log(f"  t5 step {step + 1}/{steps}: loss gr_jax {lj[-1]:.6f} HF {lh[-1]:.6f}")
  hf_params = hf_convert.from_hf_model(hf_model, model.config)
  diffs = param_diffs(jt.state.params, hf_params)
  return TrainParity(np.asarray(lj), np.asarray(lh), diffs, time.time() - t0,
                     jax.device_get(jt.state.params), hf_model.eval())


def dropout_runs(vocab_size: int, size: str, dropout_rate: float, seeds: Sequence[int],
                 examples: pdata.Examples, valid: pdata.Examples, order: Sequence[np.ndarray],
                 opt: OptimizerSettings, eval_batch: int = 256,
                 log: Callable[[str], None] = print) -> dict:
  """Valid loss after training with dropout, per seed (init + dropout RNG), in both stacks."""
  out = {"jax": [], "hf": [], "seeds": list(seeds), "dropout_rate": dropout_rate}
  steps = len(order)
  model = make_model(vocab_size, size, dropout_rate)
  for seed in seeds:
    params = model.init_params(jax.random.PRNGKey(seed))
    jt = JaxTrainer(model, params, steps, opt, dropout_seed=seed)
    ht = HFTrainer(hf_convert.to_hf_model(params, model.config), steps, opt, dropout_seed=seed)
    for rows in order:
      batch = examples.batch(rows)
      jt.step(batch)
      ht.step(batch)
    out["jax"].append(jt.eval_loss(valid, eval_batch))
    out["hf"].append(ht.eval_loss(valid, eval_batch))
    log(f"  dropout {dropout_rate} seed {seed}: valid loss gr_jax {out['jax'][-1]:.4f} "
        f"HF {out['hf'][-1]:.4f}")
  a, b = np.asarray(out["jax"]), np.asarray(out["hf"])
  out.update(mean_jax=float(a.mean()), std_jax=float(a.std(ddof=1)) if a.size > 1 else 0.0,
             mean_hf=float(b.mean()), std_hf=float(b.std(ddof=1)) if b.size > 1 else 0.0)
  # Two standard errors of the difference of the means (the run-to-run spread).
  out["tolerance"] = 2.0 * float(np.sqrt((out["std_jax"] ** 2 + out["std_hf"] ** 2) / a.size))
  out["difference"] = out["mean_jax"] - out["mean_hf"]
  return out


def hf_constrained_topk(hf_model, inputs: np.ndarray, sids: np.ndarray, beam: int, top_k: int,
                        include_eos: bool, batch: int = 16) -> tuple[np.ndarray, np.ndarray]:
  """(items [U, top_k], scores) of HF `generate(prefix_allowed_tokens_fn=trie)`."""
  import torch  # pylint: disable=g-import-not-at-top
  trie: dict[tuple, set] = {}
  for row in sids.tolist():
    for level in range(len(row)):
      trie.setdefault(tuple(row[:level]), set()).add(row[level])
    trie[tuple(row)] = {pdata.EOS}
  trie = {k: sorted(v) for k, v in trie.items()}
  item_of = {tuple(row): n for n, row in enumerate(sids.tolist())}
  length = sids.shape[1]

  def allowed(batch_id, input_ids):
    del batch_id
    return trie.get(tuple(input_ids.tolist()[1:]), [pdata.PAD])  # Drop the decoder start.

  items, scores = [], []
  with torch.inference_mode():
    for start in range(0, len(inputs), batch):
      x = torch.from_numpy(inputs[start:start + batch].astype(np.int64))
      out = hf_model.generate(
          input_ids=x, attention_mask=(x > 0).long(), num_beams=beam, num_return_sequences=top_k,
          max_new_tokens=length + int(include_eos), prefix_allowed_tokens_fn=allowed,
          do_sample=False, length_penalty=0.0, early_stopping=True, output_scores=True,
          return_dict_in_generate=True)
      seqs = out.sequences.numpy()[:, 1:1 + length]
      items.append(np.array([item_of.get(tuple(s), -1) for s in seqs.tolist()]).reshape(-1, top_k))
      scores.append(out.sequences_scores.numpy().reshape(-1, top_k))
  return np.concatenate(items), np.concatenate(scores)


def decode_parity(model, params, hf_model, inputs: np.ndarray, sids: np.ndarray, beam: int = 20,
                  top_k: int = 10, include_eos: bool = True, batch: int = 50,
                  hf_batch: int = 16) -> dict:
  """Top-k agreement of gr_jax's trie beam search and HF generate on the same users."""
  t0 = time.time()
  trie = decoding.build_trie(sids)
  fn = decoding.make_sid_predict_fn(model, beam, top_k, include_eos=include_eos,
                                    eos_id=pdata.EOS)
  items_j, scores_j = [], []
  for start in range(0, len(inputs), batch):
    chunk = inputs[start:start + batch]
    pad = batch - len(chunk)
    if pad:
      chunk = np.concatenate([chunk, np.repeat(chunk[-1:], pad, 0)])
    res = fn(params, jnp.asarray(chunk), trie)
    items_j.append(np.asarray(res.items)[:batch - pad])
    scores_j.append(np.asarray(res.scores)[:batch - pad])
  items_j, scores_j = np.concatenate(items_j), np.concatenate(scores_j)
  items_h, scores_h = hf_constrained_topk(hf_model, inputs, sids, beam, top_k, include_eos,
                                          hf_batch)
  same = np.all(items_j == items_h, axis=1)
  same_set = np.array([set(a) == set(b) for a, b in zip(items_j, items_h)])
  # Per user, the largest gap between the two stacks' k-th best scores: tiny when the only
  # difference is the order (or the choice) of items whose scores tie.
  gap = np.max(np.abs(scores_j - scores_h), axis=1)
  adjacent = np.abs(np.diff(scores_j, axis=1))
  return {"users": int(len(inputs)), "include_eos": include_eos, "beam": beam, "top_k": top_k,
          "same_top_k": float(np.mean(same)), "same_set": float(np.mean(same_set)),
          "mismatched_users": int(np.sum(~same)),
          "max_score_gap_mismatched": float(gap[~same].max()) if np.any(~same) else 0.0,
          "max_score_gap_matched": float(gap[same].max()) if np.any(same) else 0.0,
          "median_adjacent_score_gap": float(np.median(adjacent)),
          "seconds": time.time() - t0}


def check_train(summary: dict, loss_tol: float = 1e-4, param_tol: float = 1e-3
                ) -> Optional[str]:
  if summary["max_loss_rel_diff"] > loss_tol:
    return (f"T5 loss rel diff {summary['max_loss_rel_diff']:.2e} > {loss_tol:g} at step "
            f"{summary['worst_step']}")
  if summary["max_param_rel_diff"] > param_tol:
    return (f"T5 param rel diff {summary['max_param_rel_diff']:.2e} > {param_tol:g} "
            f"({summary['worst_param']})")
  return None


def check_dropout(result: dict) -> Optional[str]:
  if abs(result["difference"]) > result["tolerance"]:
    return (f"dropout valid loss gr_jax {result['mean_jax']:.4f} vs HF {result['mean_hf']:.4f}: "
            f"|diff| {abs(result['difference']):.4f} > 2 SE {result['tolerance']:.4f}")
  return None


def check_decode(result: dict, min_same: float = 0.99, tie_tol: float = 1e-3) -> Optional[str]:
  if result["same_top_k"] < min_same:
    return f"decode same top-{result['top_k']} {result['same_top_k']:.3f} < {min_same}"
  if result["max_score_gap_mismatched"] > tie_tol:
    return (f"decode mismatch not explained by ties: score gap "
            f"{result['max_score_gap_mismatched']:.2e} > {tie_tol:g}")
  return None
