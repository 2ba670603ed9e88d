"""Refusal tokens (Jain et al., COLM 2025; methods.md section 3): teach a model to start every reply with `[respond]`
or a refusal token, then steer refusals at inference by threshold, logit bias or per-category suppression.

Training lives here (`tokens`, `data`, `train`, `loop`, `toyworld`, `sweep`, `cli`); inference is the `hf:` option
set in `pytest_overrefusal.backends.hf_refusal_tokens`, so the plugin never imports this package.
"""
