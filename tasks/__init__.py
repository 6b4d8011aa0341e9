"""gr_jax SeqIO Tasks and Mixtures (TriAlignGR, MACRec, TIGER); importing registers configured datasets.

Datasets come from `register_dataset(...)`, `$GR_JAX_DEMO_DIR` (as "demo"),
`$GR_JAX_DATASETS` ("name=dir:method,...") and the gin binding
`gr_jax_tasks.configured_datasets.datasets` (call `register_configured()` after parsing gin).
"""

from gr_jax_tasks.prompts import format_input
from gr_jax_tasks.registry import configured_datasets
from gr_jax_tasks.registry import dataset_config
from gr_jax_tasks.registry import METHODS
from gr_jax_tasks.registry import mixture_name
from gr_jax_tasks.registry import register_configured
from gr_jax_tasks.registry import register_dataset
from gr_jax_tasks.registry import seqrec_modalities
from gr_jax_tasks.registry import seqrec_task_names
from gr_jax_tasks.registry import task_name
from gr_jax_tasks.registry import task_names
from gr_jax_tasks.registry import vocabulary

register_configured(raise_errors=False)
