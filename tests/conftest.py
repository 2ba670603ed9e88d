import os
import sys

import pytest

# Boundary fuzzing (tests/test_fuzz_boundary.py; see tests/fuzz/__init__.py). Registered only: other property tests
# keep hypothesis' defaults. fuzz-short runs in the normal test command (fixed seed, no shrinking, ~2 min in all);
# fuzz-long is chosen with OVERREFUSAL_FUZZ=long or --hypothesis-profile=fuzz-long.
try:
    from hypothesis import HealthCheck, Phase, settings
except ImportError:  # an environment without the dev extra runs no property tests
    pass
else:
    _FUZZ = dict(deadline=None, database=None, print_blob=True, suppress_health_check=list(HealthCheck))
    settings.register_profile("fuzz-short", max_examples=20, derandomize=True,
                              phases=(Phase.explicit, Phase.generate), **_FUZZ)
    settings.register_profile("fuzz-long", max_examples=400, **_FUZZ)

# pytester's in-process runs restore sys.modules afterwards, so a pandas first imported inside one is imported again
# by the next, and pyarrow (which stays loaded) refuses to register pandas' extension types twice
# ("A type extension with name pandas.period already defined"). Imported here, they outlive every snapshot.
try:
    import pandas  # noqa: F401
    import pyarrow  # noqa: F401
except ImportError:  # the reports extra is optional
    pass



def pytest_runtest_setup(item):
    if "pytester" in getattr(item, "fixturenames", ()):
        _embedded_model_classes()


def _embedded_model_classes() -> None:
    """Same as pandas above, for the classes the embedded models (toy, SmolLM2: Llama) load: first imported inside
    an in-process pytester run, they were removed with its snapshot, and transformers then failed to import
    LlamaConfig again for every later test in the process (a test-order failure: fine in the full suite's order,
    broken when test_run_boundary.py ran just before test_spec_boundary.py)."""
    if "transformers.models.llama.modeling_llama" in sys.modules:
        return
    try:
        import transformers.models.llama.modeling_llama  # noqa: F401
    except ImportError:  # an environment without transformers runs no model in-process
        pass


# Two torch threads on a loaded 2-core machine run ~30x slower than one (environment.md, section 3).
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")


@pytest.fixture(scope="session", autouse=True)
def _one_torch_thread():
    try:
        import torch
    except ImportError:
        return
    torch.set_num_threads(1)
