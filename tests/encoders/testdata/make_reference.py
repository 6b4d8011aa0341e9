"""Recomputes the torch reference outputs in this folder (run once by hand; needs torch).

  pip install torch==2.13.0 transformers==5.23.0
  pip install --no-deps efficientnet-lite-pytorch==0.1.0
  python tests/encoders/testdata/make_reference.py

MiniLM: Hugging Face `BertModel` on the same model.safetensors + mean pooling
+ L2 norm (exactly sentence-transformers' all-MiniLM-L6-v2 pipeline).
EfficientNet-Lite0: the weights' own PyTorch implementation
(`efficientnet_lite_pytorch`, static TF-SAME padding for 224x224) on the two
images from `reference_images()`; inputs scaled (x - 127) / 128.
The tests compare the Flax encoders against these files without torch.
"""

import json
import os

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
TEXTS = [
    "Nintendo Switch Pro Controller, black.",
    "A red ceramic coffee mug with a wide handle. Dishwasher and microwave safe.",
    "",
    "Stainless steel 12-inch skillet — induction ready, oven safe to 500°F. " * 30,
    "Kids' waterproof rain jacket with reflective stripes; ideal for school commutes.",
    "PORTER-CABLE 740000801 4 1/2-Inch x 10yd 80 Grit Adhesive-Backed Sanding Roll.",
]


def reference_images() -> np.ndarray:
  """Two deterministic uint8 [224, 224, 3] images: a photo and a checkerboard."""
  import matplotlib.cbook
  from PIL import Image
  with matplotlib.cbook.get_sample_data("grace_hopper.jpg") as f:
    photo = np.asarray(Image.open(f).convert("RGB"), np.float32)
  h, w, _ = photo.shape
  top, left = (h - 448) // 2, (w - 448) // 2
  crop = photo[top:top + 448, left:left + 448]
  photo = crop.reshape(224, 2, 224, 2, 3).mean(axis=(1, 3)).round().astype(np.uint8)
  y, x = np.mgrid[0:224, 0:224]
  board = (((y // 28) + (x // 28)) % 2 == 0).astype(np.uint8) * 255
  board = np.repeat(board[..., None], 3, axis=2)
  return np.stack([photo, board])


def main():
  import sys
  import torch
  import transformers
  from efficientnet_lite_pytorch import EfficientNet

  sys.path.insert(0, os.path.join(HERE, "..", "..", ".."))
  from gr_jax.encoders import efficientnet_lite, minilm

  model_dir = minilm.default_model_dir()
  tok = transformers.AutoTokenizer.from_pretrained(model_dir)
  bert = transformers.BertModel.from_pretrained(model_dir).eval()
  batch = tok(TEXTS, padding=True, truncation=True, max_length=256, return_tensors="pt")
  with torch.no_grad():
    hidden = bert(**batch).last_hidden_state
  mask = batch["attention_mask"][..., None].float()
  emb = torch.nn.functional.normalize((hidden * mask).sum(1) / mask.sum(1), dim=-1)
  np.save(os.path.join(HERE, "minilm_reference.npy"), emb.numpy().astype(np.float32))
  with open(os.path.join(HERE, "minilm_reference_texts.json"), "w", encoding="utf-8") as f:
    json.dump(TEXTS, f, ensure_ascii=False, indent=1)

  net = EfficientNet.from_pretrained("efficientnet-lite0",
                                     weights_path=efficientnet_lite.default_weights_path()).eval()
  x = (reference_images().astype(np.float32) - 127.0) / 128.0
  x = torch.from_numpy(x).permute(0, 3, 1, 2).contiguous()
  with torch.no_grad():
    feats = net.extract_features(x).mean(dim=(2, 3))
    logits = net(x)
  np.save(os.path.join(HERE, "efficientnet_lite0_features.npy"), feats.numpy().astype(np.float32))
  np.save(os.path.join(HERE, "efficientnet_lite0_logits.npy"), logits.numpy().astype(np.float32))
  print("top-1:", logits.argmax(-1).tolist())


if __name__ == "__main__":
  main()
