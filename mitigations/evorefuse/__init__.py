"""EvoRefuse (Wu et al. 2025): evolve harmless instructions that make a target model over-refuse.

Modules, in the order data flows through them:
  seeds           seed instructions from a suite or JSONL
  strategies      the 9 mutation strategies (3 families) and the `[instruction]. (reason).` format
  operators       offline (rule-based) mutator, recombiner and safety filter
  model_operators the same three driven by any backend spec, and any judge as the safety filter
  fitness         F(x), the paper's evidence lower bound over K sampled replies, batched across candidates
  anneal          the paper's annealing schedule and acceptance rule, plus a tie-break
  search          one lineage per seed, all advanced in lock-step: mutate, filter, recombine, score, anneal
  output          EvoRefuse-Test-style JSONL + a suite manifest
  metrics         refusal-triggering rate, MSTTR, distinct-n, response confidence
  cli             `overrefusal evolve`
Nothing heavy is imported here.
"""
