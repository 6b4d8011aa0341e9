"""gr_jax: a JAX/Flax generative recommender (TriAlignGR, MACRec, TIGER)."""

__version__ = "0.1.0"
