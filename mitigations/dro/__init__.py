"""DRO: Directed Representation Optimization of a soft safety prompt (methods.md section 2).

anchors      hidden states of queries under several system prompts + empirical compliance labels
subspace     PCA with a completed orthonormal basis; the refusal and harmfulness probes
soft_prompt  the three-term loss and the training loop
pipeline     the stages in order, and saving the prompt file
cli, loop    `overrefusal dro` and the `overrefusal mitigate --method dro` hook
toyworld     a tiny synthetic chat world whose safety prompt over-refuses; toydemo runs DRO in it
inference    the prompt file, and `hf:MODEL,soft_prompt=FILE` (an hf extension registered in pyproject.toml)
"""
