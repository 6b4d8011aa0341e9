"""Item embeddings: Flax MiniLM text, Flax EfficientNet-Lite0 image, fusion, imports."""
