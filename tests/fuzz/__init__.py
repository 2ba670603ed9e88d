"""Boundary fuzzing: hypothesis strategies for everything a user hands the plugin (manifests, data files, option
values, model specs, cache states, server answers) and the contract each run must meet (`contract.py`).

The properties are in tests/test_fuzz_boundary.py. Two hypothesis profiles are registered in tests/conftest.py:

- `fuzz-short` (default): 20 examples per property, derandomized (the same examples every run, so CI is
  reproducible), no shrinking, about 2 minutes for the whole file on one core:
  `OMP_NUM_THREADS=1 python -m pytest -q -p no:cacheprovider tests/test_fuzz_boundary.py`
- `fuzz-long` (on demand): 400 random examples per property, with shrinking to a minimal falsifying example:
  `OVERREFUSAL_FUZZ=long python -m pytest -q -p no:cacheprovider tests/test_fuzz_boundary.py`
  (or `--hypothesis-profile=fuzz-long`); `OVERREFUSAL_FUZZ_EXAMPLES=N` sets any other count.

A failure prints the generated input (each strategy's value has a short repr) and the run's output tail; each broken
clause of the contract is its own exception type, so hypothesis reports distinct problems separately.
"""
