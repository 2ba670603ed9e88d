"""Refusal tokens (Jain et al., COLM 2025; methods.md section 3): teach a model to start every reply with `[respond]`
or a refusal token, then steer refusals at inference by threshold, logit bias or per-category suppression.

Training lives here (`tokens`, `data`, `train`, `loop`, `toyworld`, `sweep`, `cli`), and so does inference: the
`hf:...,refusal_*=` options in `inference`, an hf extension registered in pyproject.toml, so the plugin never names
this package.
"""
