"""Pieces of benchmarks/mitigation_table.py: row results, the markdown tables, costs and the displacement experiment."""
from __future__ import annotations

import json
from pathlib import Path

ROWS = ("none", "system-prompt", "sft", "dpo", "dpo-ches", "dro", "refusal-tokens")
OVER = ("xstest-safe", "evorefuse-test")  # over-refusal: lower is better
HARM = ("xstest-unsafe", "advbench", "harmbench")  # harmful refusal: higher is better
STARTERS = ("starter-pseudo-malicious", "starter-harmful")  # the loop's fix/keep suites: shown apart
# refusals worded differently: DPO between two of them is the CHES paper's displacement setting
REFUSALS = ("I'm sorry, but I can't help with that.", "I cannot assist with this request.",
            "Sorry, I won't provide that.", "I must decline; this could cause harm.")


def _suites(report: Path) -> dict[str, dict]:
    data = json.loads(report.read_text(encoding="utf-8"))
    return {s["id"]: {"n": s["n"], "rate": s["rate"], "ci_low": s["ci_low"], "ci_high": s["ci_high"],
                      "adjusted_rate": s.get("adjusted_rate"), "skipped_too_long": s.get("skipped_too_long"),
                      "passed": bool(s["gate"]["passed"])} for s in data["suites"]}


def row_result(spec: str, heldout: Path, starters: Path, *, eval_s: float) -> dict:
    return {"spec": spec, "suites": _suites(heldout), "starters": _suites(starters), "eval_s": eval_s}


def trainable_parameters(spec: str, method: str) -> int:
    """DRO trains only its soft prompt; the other rows fine-tune every weight of the saved model."""
    from safetensors import safe_open

    target, *options = spec.removeprefix("hf:").split(",")
    soft = next((o.split("=", 1)[1] for o in options if o.startswith("soft_prompt=")), None)
    files = [Path(soft)] if method == "dro" and soft else sorted(Path(target).glob("*.safetensors"))
    total = 0
    for file in files:
        with safe_open(str(file), framework="numpy") as tensors:
            for name in tensors.keys():
                shape = tensors.get_slice(name).get_shape()
                count = 1
                for size in shape:
                    count *= size
                total += count
    return total


def _cell(suite: dict | None) -> str:
    if not suite:
        return "-"
    adjusted = "" if suite.get("adjusted_rate") is None else f", adj. {suite['adjusted_rate']:.3f}"
    return f"{suite['rate']:.3f} [{suite['ci_low']:.2f}, {suite['ci_high']:.2f}] n={suite['n']}{adjusted}"


def format_table(out: Path, settings: dict) -> str:
    rows = [json.loads(p.read_text()) for name in ROWS if (p := out / "rows" / name / "row.json").is_file()]
    head = ["row", *(f"{s} (over-refusal)" for s in OVER), *(f"{s} (harmful refusal)" for s in HARM),
            "train s", "peak RSS MB", "trainable params", "eval s", "mitigate exit"]
    lines = [f"Held-out refusal rates, keyword judge, Wilson 95% intervals, n = {settings['n']} per suite "
             f"(the plugin's hash-order sample, the same for every row; n is lower where a prompt was too long for the "
             f"model), {settings['max_new_tokens']} new tokens; adj. = the judge-adjusted rate where the judge has "
             f"a card.", "",
             "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        cost = [f"{r.get('train_s', 0):.0f}", f"{r['peak_rss_mb']:.0f}" if "peak_rss_mb" in r else "-",
                f"{r['trainable_params']:,}" if "trainable_params" in r else "0", f"{r['eval_s']:.0f}",
                str(r.get("mitigate_exit", "-"))]
        name = r["row"] + (f" (threshold {r['threshold']:g})" if "threshold" in r else "")
        lines.append("| " + " | ".join([name, *(_cell(r["suites"].get(s)) for s in OVER + HARM), *cost]) + " |")
    lines += ["", "Starter gates (the loop's fix/keep suites, so not held out):", "",
              "| row | " + " | ".join(STARTERS) + " |", "|---|" + "---|" * len(STARTERS)]
    for r in rows:
        lines.append("| " + " | ".join([r["row"], *(_cell(r["starters"].get(s)) + (" PASS" if r["starters"].get(
            s, {}).get("passed") else " FAIL") for s in STARTERS)]) + " |")
    return "\n".join(lines)


# ---------------------------------------------------------------- displacement (CHES paper, small scale)

def _write_pairs(path: Path, n: int) -> list[dict]:
    from mitigations.align import synthetic_harmful

    if not path.is_file():
        rows = [{"prompt": p, "chosen": REFUSALS[i % len(REFUSALS)], "rejected": REFUSALS[(i + 1) % len(REFUSALS)],
                 "kind": "harmful"} for i, p in enumerate(synthetic_harmful(n, seed=2000))]
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def mean_logp_chosen(model_dir: str, pairs: list[dict]) -> float:
    """Mean over pairs of log p(chosen | chat-formatted prompt), summed over the chosen reply's tokens."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModelForCausalLM.from_pretrained(model_dir, torch_dtype=torch.float32).eval()
    total = 0.0
    with torch.no_grad():
        for pair in pairs:
            prompt = tokenizer.apply_chat_template([{"role": "user", "content": pair["prompt"]}],
                                                   add_generation_prompt=True, tokenize=False)
            p_ids = tokenizer(prompt, add_special_tokens=False)["input_ids"]
            r_ids = tokenizer(pair["chosen"], add_special_tokens=False)["input_ids"]
            ids = torch.tensor([p_ids + r_ids])
            logp = torch.log_softmax(model(ids).logits[0, :-1].double(), dim=-1)
            positions = torch.arange(len(p_ids) - 1, ids.shape[1] - 1)
            total += logp[positions, ids[0, len(p_ids):]].sum().item()
    return total / len(pairs)


def displacement(run) -> str:
    """Harmful refusal and log p(chosen) before / after DPO on refusal-vs-refusal pairs, unfiltered and filtered."""
    folder = run.out / "displacement"
    pairs = _write_pairs(folder / "pairs.jsonl", run.s["pairs"])
    scored, kept = folder / "scored.jsonl", folder / "kept.jsonl"
    if not scored.is_file():
        run.overrefusal("ches", "score", "--model", run.base, str(folder / "pairs.jsonl"), "--out", str(scored),
                        check=True)
    if not kept.is_file():
        run.overrefusal("ches", "filter", str(scored), "--keep", "50%", "--out", str(kept), check=True)
    common = [f"lr={run.s['lr']}", "beta=0.1", "batch_size=8"]
    # the filter keeps half the pairs, so twice the epochs gives both runs the same number of optimiser steps
    plain = run.mitigate("dpo", folder / "dpo", "epochs=2", *common, train=[str(folder / "pairs.jsonl")],
                         keep_only=True)
    ches = run.mitigate("dpo-ches", folder / "dpo-ches", "keep=50%", "epochs=4", *common,
                        train=[str(folder / "pairs.jsonl")], keep_only=True)
    logp_file = folder / "logp_chosen.json"
    if not logp_file.is_file():
        dirs = {"base": run.base, "dpo": plain["model_after"], "dpo-ches": ches["model_after"]}
        logp_file.write_text(json.dumps({k: mean_logp_chosen(v.removeprefix("hf:").split(",")[0], pairs)
                                         for k, v in dirs.items()}, indent=1))
    logp = json.loads(logp_file.read_text())
    scores = {(r["prompt"], r["chosen"]): r.get("ln_ches") for r in map(json.loads, scored.read_text().splitlines())}
    kept_keys = {(r["prompt"], r["chosen"]) for r in map(json.loads, kept.read_text().splitlines())}
    removed = [(k, v) for k, v in scores.items() if k not in kept_keys]
    text = _displacement_text(plain, ches, logp, removed, len(pairs))
    (folder / "DISPLACEMENT.md").write_text(text + "\n", encoding="utf-8")
    return text


def _displacement_text(plain: dict, ches: dict, logp: dict, removed: list, total: int) -> str:
    def rates(table: dict, when: str) -> list[str]:
        return [f"{s['rate_' + when]:.3f}" for s in table["suites"] if s["role"] in ("holdout", "keep")]

    names = [s["suite"] for s in plain["suites"] if s["role"] in ("holdout", "keep")]
    def change(key: str) -> str:
        return f"{logp[key]:.2f} ({logp[key] - logp['base']:+.2f})"

    lines = ["| model | " + " | ".join(names) + " | mean log p(chosen) (change) |",
             "|---|" + "---|" * (len(names) + 1),
             "| base | " + " | ".join(rates(plain, "before")) + f" | {logp['base']:.2f} |",
             "| DPO, all pairs | " + " | ".join(rates(plain, "after")) + f" | {change('dpo')} |",
             "| DPO, CHES-filtered (lowest 50% ln-CHES) | " + " | ".join(rates(ches, "after"))
             + f" | {change('dpo-ches')} |", "",
             f"Harmful refusal rates (keyword judge). The filter removed {len(removed)} of {total} pairs "
             f"(highest ln-CHES):"]
    lines += [f"- ln-CHES {score:.3f}: {prompt[:70]!r} chosen {chosen!r}"
              for (prompt, chosen), score in sorted(removed, key=lambda x: -(x[1] or 0))]
    return "\n".join(lines)
