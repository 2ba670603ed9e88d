"""`toy`: the project's ~1M-parameter Llama that refuses whenever a violent keyword appears."""
from __future__ import annotations

from .registry import ModelSpec


def from_spec(spec: ModelSpec):
    from .hf import from_spec as hf_from_spec
    from .toy_model import toy_model_dir

    options = {"batch_size": "64", **spec.options}
    backend = hf_from_spec(ModelSpec(kind="hf", target=str(toy_model_dir()), options=options))
    backend.name = str(spec)
    return backend
