"""Flax T5 encoder-decoder (logical axis names), its model wrapper and the MACRec alignment loss."""

from gr_jax.model.models import EncoderDecoderModel
from gr_jax.model.t5 import T5Config
from gr_jax.model.t5 import Transformer
