"""Pretrained encoders (MiniLM/BERT, EfficientNet-Lite) and their weights, for enrich and embed."""
