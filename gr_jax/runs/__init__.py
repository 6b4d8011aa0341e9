"""Orchestration: multi-stage runs (demo, ablations, real data) over the `gr-jax` stages."""
