"""Image statistics for the heuristic captioner: named colours, pattern/texture, shape, tone."""

from __future__ import annotations

import dataclasses

import numpy as np

# Named-colour palette (sRGB). Names are matched by nearest CIE Lab distance.
PALETTE = {
    "black": (15, 15, 15), "dark gray": (75, 75, 75), "gray": (128, 128, 128),
    "light gray": (195, 195, 195), "white": (250, 250, 250),
    "red": (220, 20, 30), "dark red": (128, 16, 24), "pink": (245, 150, 185),
    "magenta": (230, 30, 200), "orange": (250, 130, 20), "brown": (125, 75, 35),
    "beige": (225, 205, 165), "tan": (195, 155, 105), "yellow": (250, 225, 30),
    "gold": (205, 165, 40), "olive": (120, 125, 35), "lime": (160, 230, 50),
    "green": (20, 175, 50), "dark green": (15, 85, 35), "teal": (10, 128, 128),
    "cyan": (40, 215, 225), "light blue": (165, 205, 240), "blue": (20, 70, 240),
    "navy": (0, 0, 128), "purple": (128, 20, 150), "lavender": (185, 160, 225),
}
PALETTE_NAMES = tuple(PALETTE)
NEUTRALS = {"black", "dark gray", "gray", "light gray", "white", "beige", "tan"}


def srgb_to_lab(rgb_Nx3: np.ndarray) -> np.ndarray:
  """sRGB uint8/float [..., 3] in 0..255 -> CIE Lab (D65) float32 [..., 3]."""
  c = np.asarray(rgb_Nx3, np.float32) / 255.0
  lin = np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)
  m = np.array([[0.4124, 0.3576, 0.1805], [0.2126, 0.7152, 0.0722], [0.0193, 0.1192, 0.9505]],
               np.float32)
  xyz = lin @ m.T / np.array([0.95047, 1.0, 1.08883], np.float32)
  f = np.where(xyz > 0.008856, np.cbrt(xyz), 7.787 * xyz + 16.0 / 116.0)
  lab = np.stack([116.0 * f[..., 1] - 16.0, 500.0 * (f[..., 0] - f[..., 1]),
                  200.0 * (f[..., 1] - f[..., 2])], axis=-1)
  return lab.astype(np.float32)


_PALETTE_LAB_Kx3 = srgb_to_lab(np.array(list(PALETTE.values()), np.float32))
_PALETTE_SQ_K = (_PALETTE_LAB_Kx3 ** 2).sum(-1)


def name_colours(lab_Nx3: np.ndarray) -> np.ndarray:
  """Index into PALETTE_NAMES of the nearest named colour of each Lab pixel."""
  # |x - p|^2 = |p|^2 - 2 x.p + |x|^2; the last term does not change the argmin.
  d_NxK = _PALETTE_SQ_K[None, :] - 2.0 * (lab_Nx3 @ _PALETTE_LAB_Kx3.T)
  return d_NxK.argmin(-1)


def colour_name(rgb) -> str:
  """Nearest palette name of one sRGB colour."""
  return PALETTE_NAMES[int(name_colours(srgb_to_lab(np.array([rgb], np.float32)))[0])]


@dataclasses.dataclass
class ImageStats:
  """What the heuristic captioner says about one image."""
  colours: list[str]          # dominant foreground colour names, most frequent first (<= 3)
  colour_shares: list[float]
  background: str | None      # background colour name; None for full-frame photos
  pattern: str                # plain | vertical stripes | horizontal stripes | diagonal stripes
                              # | polka dots | checks | textured
  shape: str                  # round | oval | square | rectangular | triangular | diamond
                              # | irregular | full-frame
  orientation: str            # tall | wide | compact
  size: str                   # small | medium | large
  brightness: str             # dark | medium | light
  saturation: str             # muted | moderate | vivid
  contrast: str               # low | medium | high


def _transitions(lab_HxWx3, mask_HxW, dy: int, dx: int, thresh: float) -> float:
  """Fraction of in-mask neighbour pairs at offset (dy, dx) whose colours differ by > thresh."""
  h, w = mask_HxW.shape
  y0, y1 = max(0, -dy), h - max(0, dy)
  x0, x1 = max(0, -dx), w - max(0, dx)
  a, b = lab_HxWx3[y0:y1, x0:x1], lab_HxWx3[y0 + dy:y1 + dy, x0 + dx:x1 + dx]
  both = mask_HxW[y0:y1, x0:x1] & mask_HxW[y0 + dy:y1 + dy, x0 + dx:x1 + dx]
  if both.sum() < 16:
    return 0.0
  diff = np.sqrt(((a - b) ** 2).sum(-1)) > thresh
  return float((diff & both).sum() / both.sum())


def _erode(mask_HxW: np.ndarray, steps: int) -> np.ndarray:
  """Binary erosion with a 3x3 cross, `steps` times (drops outline pixels)."""
  m = mask_HxW.copy()
  for _ in range(steps):
    inner = m.copy()
    inner[1:, :] &= m[:-1, :]
    inner[:-1, :] &= m[1:, :]
    inner[:, 1:] &= m[:, :-1]
    inner[:, :-1] &= m[:, 1:]
    inner[0, :] = inner[-1, :] = inner[:, 0] = inner[:, -1] = False
    m = inner
  return m


def _flat(lab_HxWx3: np.ndarray, thresh: float) -> np.ndarray:
  """Pixels whose 4 neighbours all lie within `thresh` (not on a colour edge or a blend)."""
  flat = np.ones(lab_HxWx3.shape[:2], bool)
  dx = np.sqrt(((lab_HxWx3[:, 1:] - lab_HxWx3[:, :-1]) ** 2).sum(-1)) <= thresh
  dy = np.sqrt(((lab_HxWx3[1:] - lab_HxWx3[:-1]) ** 2).sum(-1)) <= thresh
  flat[:, 1:] &= dx
  flat[:, :-1] &= dx
  flat[1:] &= dy
  flat[:-1] &= dy
  return flat


def _pattern(lab, mask, labels, flat, thresh: float = 20.0) -> str:
  inner = _erode(mask, 2)
  if inner.sum() < 16:
    inner = mask
  tx, ty = _transitions(lab, inner, 0, 1, thresh), _transitions(lab, inner, 1, 0, thresh)
  d1, d2 = _transitions(lab, inner, 1, 1, thresh), _transitions(lab, inner, 1, -1, thresh)
  hi = max(tx, ty, d1, d2)
  if hi < 0.04:
    return "plain"
  if ty < 0.3 * tx:
    return "vertical stripes"
  if tx < 0.3 * ty:
    return "horizontal stripes"
  if min(d1, d2) < 0.35 * max(d1, d2):
    return "diagonal stripes"
  sel = inner & flat
  if hi > 0.85 or sel.sum() < 0.05 * inner.sum():
    return "textured"
  counts = np.bincount(labels[sel], minlength=len(PALETTE_NAMES)).astype(np.float64)
  shares = np.sort(counts)[::-1] / counts.sum()
  if shares[:2].sum() < 0.8:
    return "textured"  # More than two colours in the repeating structure.
  return "polka dots" if shares[1] / shares[:2].sum() < 0.38 else "checks"


def _shape(mask) -> tuple[str, str, str]:
  """(shape, orientation, size) of the foreground mask."""
  h_img, w_img = mask.shape
  rows, cols = np.flatnonzero(mask.any(1)), np.flatnonzero(mask.any(0))
  h, w = rows[-1] - rows[0] + 1, cols[-1] - cols[0] + 1
  box = mask[rows[0]:rows[-1] + 1, cols[0]:cols[-1] + 1]
  fill = box.mean()
  aspect = w / h
  orientation = "wide" if aspect > 1.4 else "tall" if aspect < 1 / 1.4 else "compact"
  area = mask.mean()
  size = "small" if area < 0.12 else "large" if area > 0.5 else "medium"
  widths = box.sum(1) / w
  n = len(widths)
  if fill > 0.9:
    shape = "square" if orientation == "compact" else "rectangular"
  elif fill > 0.7:
    shape = "round" if orientation == "compact" else "oval"
  elif fill > 0.35 and n >= 4:
    t = np.arange(n, dtype=np.float64)
    corr = np.corrcoef(t, widths)[0, 1] if widths.std() > 0 else 0.0
    middle = widths[n // 3:2 * n // 3 + 1].mean()
    ends = np.concatenate([widths[:max(1, n // 6)], widths[-max(1, n // 6):]]).mean()
    if abs(corr) > 0.9:
      shape = "triangular"
    elif middle > 2.0 * ends:
      shape = "diamond"
    else:
      shape = "irregular"
  else:
    shape = "irregular"
  return shape, orientation, size


def _span_fill(mask_HxW: np.ndarray) -> np.ndarray:
  """Fills each row between its first and last set pixel."""
  w = mask_HxW.shape[1]
  idx = np.arange(w)
  first = np.where(mask_HxW.any(1), mask_HxW.argmax(1), w)
  last = np.where(mask_HxW.any(1), w - 1 - mask_HxW[:, ::-1].argmax(1), -1)
  return (idx[None, :] >= first[:, None]) & (idx[None, :] <= last[:, None])


def _fill(mask_HxW: np.ndarray) -> np.ndarray:
  """Object region: union of row-wise and column-wise span fills, so background-coloured
  stripes, dots and holes inside the object count as part of it."""
  return _span_fill(mask_HxW) | _span_fill(mask_HxW.T).T


def analyse(rgb_HxWx3: np.ndarray) -> ImageStats:
  """Colour names, pattern, shape and tone of an RGB uint8 image (small, e.g. 96 px)."""
  lab = srgb_to_lab(rgb_HxWx3)
  h, w, _ = lab.shape
  labels = name_colours(lab.reshape(-1, 3)).reshape(h, w)
  ring = np.ones((h, w), bool)
  ring[2:-2, 2:-2] = False
  border = lab[ring]
  bg = np.median(border, axis=0)
  uniform = (np.sqrt(((border - bg) ** 2).sum(-1)) < 12.0).mean() >= 0.8
  if uniform:
    mask = _fill(np.sqrt(((lab - bg) ** 2).sum(-1)) > 18.0)
    if mask.sum() < 0.01 * h * w:  # A blank image: describe the whole frame.
      uniform, mask = False, np.ones((h, w), bool)
  else:
    mask = np.ones((h, w), bool)
  flat = _flat(lab, 20.0)
  sel = mask & flat if (mask & flat).sum() >= 0.2 * mask.sum() else mask
  counts = np.bincount(labels[sel], minlength=len(PALETTE_NAMES)).astype(np.float64)
  shares = counts / counts.sum()
  order = [int(k) for k in np.argsort(-shares, kind="stable") if shares[k] >= 0.12][:3]
  if not order:
    order = [int(np.argmax(shares))]
  if uniform:
    shape, orientation, size = _shape(mask)
    background = PALETTE_NAMES[int(name_colours(bg[None])[0])]
  else:
    shape, orientation, size, background = "full-frame", "compact", "large", None
  fg = lab[mask]
  lum, chroma = fg[:, 0], np.sqrt(fg[:, 1] ** 2 + fg[:, 2] ** 2)
  return ImageStats(
      colours=[PALETTE_NAMES[k] for k in order],
      colour_shares=[round(float(shares[k]), 3) for k in order],
      background=background,
      pattern=_pattern(lab, mask, labels, flat),
      shape=shape, orientation=orientation, size=size,
      brightness="dark" if lum.mean() < 35 else "light" if lum.mean() > 75 else "medium",
      saturation="muted" if chroma.mean() < 15 else "vivid" if chroma.mean() > 45 else "moderate",
      contrast="low" if lum.std() < 8 else "high" if lum.std() > 25 else "medium")
