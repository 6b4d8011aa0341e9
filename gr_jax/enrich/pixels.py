"""Image statistics for the heuristic captioner: named colours, pattern/texture, shape, tone.

Pipeline on a small RGB image (<= ~96 px): CIE Lab; background = the colours that
dominate an outer border band; object mask = pixels far from every background
colour (opened to drop specks); colours = nearest named palette colours of the
object's flat (non-edge) pixels; pattern = colour transitions along the four
directions inside the eroded object plus a two-colour split (stripes, diagonal,
wavy, grid, dots, checks, textured); shape = harmonics of the object's radial
profile (rotation-invariant: round, oval, triangular, square, diamond, hexagonal,
star-shaped).
"""

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
    "cyan": (40, 215, 225), "light blue": (165, 205, 240), "blue": (35, 75, 220),
    "navy": (0, 0, 128), "purple": (128, 20, 150), "lavender": (185, 160, 225),
}
PALETTE_NAMES = tuple(PALETTE)
NEUTRALS = {"black", "dark gray", "gray", "light gray", "white", "beige", "tan"}
PATTERNS = ("plain", "vertical stripes", "horizontal stripes", "diagonal stripes", "wavy stripes",
            "grid", "polka dots", "checks", "textured")
SHAPES = ("round", "oval", "triangular", "square", "rectangular", "diamond", "hexagonal",
          "star-shaped", "irregular", "full-frame")
EDGE_DE = 20.0        # Lab distance that counts as a colour edge.
BACKGROUND_DE = 15.0  # Lab distance within which a pixel matches a background colour.


def srgb_to_lab(rgb: np.ndarray) -> np.ndarray:
  """sRGB uint8/float [..., 3] in 0..255 -> CIE Lab (D65) float32 [..., 3]."""
  c = np.asarray(rgb, np.float32) / 255.0
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
  colours: list[str]          # dominant object colour names, most frequent first (<= 3)
  colour_shares: list[float]
  background: str | None      # background colour name; None for full-frame photos
  pattern: str                # one of PATTERNS
  shape: str                  # one of SHAPES
  orientation: str            # tall | wide | compact
  size: str                   # small | medium | large
  brightness: str             # dark | medium | light
  saturation: str             # muted | moderate | vivid
  contrast: str               # low | medium | high


def _shift_and(m: np.ndarray, op) -> np.ndarray:
  out = m.copy()
  out[1:, :] = op(out[1:, :], m[:-1, :])
  out[:-1, :] = op(out[:-1, :], m[1:, :])
  out[:, 1:] = op(out[:, 1:], m[:, :-1])
  out[:, :-1] = op(out[:, :-1], m[:, 1:])
  return out


def _erode(mask: np.ndarray, steps: int = 1) -> np.ndarray:
  """Binary erosion with a 3x3 cross (image border counts as outside)."""
  for _ in range(steps):
    mask = _shift_and(mask, np.logical_and)
    mask[0, :] = mask[-1, :] = mask[:, 0] = mask[:, -1] = False
  return mask


def _dilate(mask: np.ndarray, steps: int = 1) -> np.ndarray:
  for _ in range(steps):
    mask = _shift_and(mask, np.logical_or)
  return mask


def _span(mask: np.ndarray) -> np.ndarray:
  """Each row filled between its first and last set pixel."""
  w = mask.shape[1]
  idx = np.arange(w)
  any_ = mask.any(1)
  first = np.where(any_, mask.argmax(1), w)
  last = np.where(any_, w - 1 - mask[:, ::-1].argmax(1), -1)
  return (idx[None, :] >= first[:, None]) & (idx[None, :] <= last[:, None])


def _fill_holes(mask: np.ndarray) -> np.ndarray:
  """Holes closed where both the row and the column span cover them (notches stay open)."""
  return mask | (_span(mask) & _span(mask.T).T)


def _transitions(lab, mask, dy: int, dx: int) -> float:
  """Fraction of in-mask neighbour pairs at offset (dy, dx) that differ by > EDGE_DE."""
  h, w = mask.shape
  y0, y1, x0, x1 = max(0, -dy), h - max(0, dy), max(0, -dx), w - max(0, dx)
  both = mask[y0:y1, x0:x1] & mask[y0 + dy:y1 + dy, x0 + dx:x1 + dx]
  if both.sum() < 16:
    return 0.0
  a, b = lab[y0:y1, x0:x1], lab[y0 + dy:y1 + dy, x0 + dx:x1 + dx]
  diff = ((a - b) ** 2).sum(-1) > EDGE_DE ** 2
  return float((diff & both).sum() / both.sum())


def _flat(lab: np.ndarray) -> np.ndarray:
  """Pixels whose 4 neighbours are all within EDGE_DE (not on an edge or a blend)."""
  dx = ((lab[:, 1:] - lab[:, :-1]) ** 2).sum(-1) <= EDGE_DE ** 2
  dy = ((lab[1:] - lab[:-1]) ** 2).sum(-1) <= EDGE_DE ** 2
  flat = np.ones(lab.shape[:2], bool)
  flat[:, 1:] &= dx
  flat[:, :-1] &= dx
  flat[1:] &= dy
  flat[:-1] &= dy
  return flat


def _two_means(x_Nx3: np.ndarray) -> np.ndarray:
  """Boolean minority-cluster membership of a 2-means split (init: darkest, lightest)."""
  c = np.stack([x_Nx3[x_Nx3[:, 0].argmin()], x_Nx3[x_Nx3[:, 0].argmax()]])
  for _ in range(6):
    a = ((x_Nx3[:, None] - c[None]) ** 2).sum(-1).argmin(1)
    for j in range(2):
      if (a == j).any():
        c[j] = x_Nx3[a == j].mean(0)
  return a == np.bincount(a, minlength=2).argmin()


def _pattern(lab: np.ndarray, obj: np.ndarray) -> str:
  inner = _erode(obj, 2)
  if inner.sum() < 32:
    inner = obj
  tx, ty = _transitions(lab, inner, 0, 1), _transitions(lab, inner, 1, 0)
  d1, d2 = _transitions(lab, inner, 1, 1), _transitions(lab, inner, 1, -1)
  hi = max(tx, ty, d1, d2)
  if hi < 0.08:
    return "plain"
  if ty < 0.3 * tx:
    return "vertical stripes"
  if tx < 0.3 * ty:
    return "horizontal stripes"
  if min(d1, d2) < 0.35 * max(d1, d2):
    return "diagonal stripes"
  if hi > 0.85:
    return "textured"
  minor = np.zeros(obj.shape, bool)
  minor[inner] = _two_means(lab[inner])
  def full_lines(m, region):  # Share of rows where the minority colour spans the object.
    n = region.sum(1)
    keep = n >= 8
    return float(((m.sum(1)[keep] / n[keep]) > 0.85).mean()) if keep.any() else 0.0
  if full_lines(minor, inner) >= 0.06 and full_lines(minor.T, inner.T) >= 0.06:
    return "grid"
  if min(tx, ty) < 0.85 * max(tx, ty):
    return "wavy stripes"
  share = minor[inner].mean()
  return "polka dots" if share < 0.4 else "checks"


def _shape(obj: np.ndarray) -> tuple[str, str, str]:
  """(shape, orientation, size) from the hole-filled object mask."""
  ys, xs = np.nonzero(obj)
  h, w = np.ptp(ys) + 1, np.ptp(xs) + 1
  aspect = w / h
  orientation = "wide" if aspect > 1.4 else "tall" if aspect < 1 / 1.4 else "compact"
  area = obj.mean()
  size = "small" if area < 0.1 else "large" if area > 0.5 else "medium"
  if len(ys) < 30:
    return "irregular", orientation, size
  # Radial profile r(theta): farthest object pixel per 10-degree bin, about the centroid.
  # Stretching the bins by the aspect ratio makes r(theta) of ovals and rectangles
  # look like circles and squares, so harmonics only see the corners.
  cy, cx = ys.mean(), xs.mean()
  dy, dx = (ys - cy) * aspect, xs - cx
  theta = np.arctan2(dy, dx)
  bins = ((theta + np.pi) / (2 * np.pi) * 36).astype(int) % 36
  r = np.zeros(36)
  np.maximum.at(r, bins, np.hypot(dy, dx))
  if (r == 0).any():
    return "irregular", orientation, size
  spec = np.abs(np.fft.rfft(r / r.mean())) / 18
  k = 3 + int(np.argmax(spec[3:9]))
  stretched = orientation != "compact"
  if spec[3:9].max() < 0.025:
    shape = "oval" if stretched else "round"
  elif k == 4:
    # Corners on the diagonals (square) or on the axes (diamond): phase of harmonic 4.
    # Bin 0 starts at theta = -pi (an axis): corners on the axes give harmonic 4 a
    # positive real part, corners on the diagonals a negative one.
    on_axes = np.fft.rfft(r)[4].real > 0
    shape = "diamond" if on_axes else ("rectangular" if stretched else "square")
  elif k == 3 and spec[3] > 0.06:
    shape = "triangular"
  elif k == 5 and spec[5] > 0.1:
    shape = "star-shaped"
  elif k == 6:
    shape = "hexagonal"
  else:
    shape = "irregular"
  return shape, orientation, size


def _background(lab: np.ndarray) -> tuple[np.ndarray, str | None, float]:
  """(Lab colours [B, 3] of the background, its name, share of the top colour in the band)."""
  h, w, _ = lab.shape
  band = max(2, int(round(0.1 * min(h, w))))
  ring = np.ones((h, w), bool)
  ring[band:-band, band:-band] = False
  border = lab[ring]
  labels = name_colours(border)
  shares = np.bincount(labels, minlength=len(PALETTE_NAMES)) / len(border)
  order = np.argsort(-shares, kind="stable")
  colours = [border[labels == order[0]].mean(0)]
  for k in order[1:]:
    if shares[k] < 0.12:
      break
    mean = border[labels == k].mean(0)
    if np.hypot(mean[1], mean[2]) < 20:  # Extra backdrop colours must be near-neutral.
      colours.append(mean)
  return np.stack(colours), PALETTE_NAMES[int(order[0])], float(shares[order[0]])


def analyse(rgb_HxWx3: np.ndarray) -> ImageStats:
  """Colour names, pattern, shape and tone of an RGB uint8 image (small, e.g. 96 px)."""
  lab = srgb_to_lab(rgb_HxWx3)
  h, w, _ = lab.shape
  bg_lab, bg_name, bg_share = _background(lab)
  d2 = ((lab[:, :, None, :] - bg_lab[None, None]) ** 2).sum(-1).min(-1)
  obj = _dilate(_erode(d2 > BACKGROUND_DE ** 2))  # Opening drops isolated specks.
  full_frame = bg_share < 0.35 or obj.sum() < 0.01 * h * w or obj.mean() > 0.9
  if full_frame:
    obj, bg_name = np.ones((h, w), bool), None
  flat = _flat(lab)
  sel = obj & flat if (obj & flat).sum() >= 0.05 * obj.sum() else obj
  counts = np.bincount(name_colours(lab[sel]), minlength=len(PALETTE_NAMES)).astype(np.float64)
  shares = counts / counts.sum()
  order = [int(k) for k in np.argsort(-shares, kind="stable") if shares[k] >= 0.12][:3]
  order = order or [int(np.argmax(shares))]
  if full_frame:
    shape, orientation, size = "full-frame", "compact", "large"
  else:
    shape, orientation, size = _shape(_fill_holes(obj))
  fg = lab[obj]
  lum, chroma = fg[:, 0], np.hypot(fg[:, 1], fg[:, 2])
  return ImageStats(
      colours=[PALETTE_NAMES[k] for k in order],
      colour_shares=[round(float(shares[k]), 3) for k in order],
      background=bg_name, pattern=_pattern(lab, obj),
      shape=shape, orientation=orientation, size=size,
      brightness="dark" if lum.mean() < 35 else "light" if lum.mean() > 75 else "medium",
      saturation="muted" if chroma.mean() < 15 else "vivid" if chroma.mean() > 45 else "moderate",
      contrast="low" if lum.std() < 8 else "high" if lum.std() > 25 else "medium")
