"""Step-by-step parity of gr_jax with the PyTorch stack the peers' numbers come from.

`data` builds the shared inputs from a real dataset, `rqvae` checks the tokenizer
against a PyTorch RQ-VAE written to the peers' recipe, `t5` checks training and
decoding against Hugging Face `T5ForConditionalGeneration` + `torch.optim.AdamW`.
torch and transformers are imported inside the functions that need them, never
when gr_jax is imported.
"""
