"""Pretrained encoders (MiniLM/BERT, EfficientNet-Lite) and their weight loading, shared by enrich and embed."""
