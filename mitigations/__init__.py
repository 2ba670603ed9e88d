"""Mitigations: ways to make failing over-refusal suites pass (EvoRefuse data, SFT/DPO, DRO, refusal tokens, CHES)."""
