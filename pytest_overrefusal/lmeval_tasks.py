"""`overrefusal lm-eval-tasks`: export suites as lm-evaluation-harness task folders.

Each suite becomes `<out>/<suite_id>/` holding
  - `<suite_id>.jsonl`: the cases exactly as the plugin sees them (filters, exclusions, context columns, the
    deterministic `--limit` subsample), so lm-eval and pytest score the same rows;
  - `overrefusal_<id>.yaml`: the task (absolute data path, `until: []`, greedy, the suite's token limit,
    `refusal` and `expectation_mismatch` metrics averaged by mean, the judge named in `metadata`);
  - `overrefusal_lmeval.py`: a one-line shim to `pytest_overrefusal.lmeval_scoring.OverrefusalTask`, which
    judges each answer and refuses to run without `--apply_chat_template`.
Run with: lm_eval --model hf --model_args pretrained=PATH --include_path OUT --tasks overrefusal_<id>
          --apply_chat_template
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import yaml

from .catalog import data_folder
from .errors import OverrefusalError, SuiteError
from .suite import Suite

SHIM_MODULE = "overrefusal_lmeval"
TAG = "overrefusal"
_SHIM = ('"""Written by `overrefusal lm-eval-tasks`. lm-eval loads the task class from here; the logic lives in\n'
         'pytest-overrefusal, which must be installed where lm_eval runs."""\n'
         "from pytest_overrefusal.lmeval_scoring import OverrefusalTask  # noqa: F401\n")


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", type=Path, required=True, help="folder to write one task folder per suite into")
    parser.add_argument("--suite", action="append", default=[],
                        help="suite id or manifest path (repeatable; default: every built-in suite whose data "
                             "is available)")
    parser.add_argument("--data", type=Path, default=None,
                        help="benchmark data folder (default: $OVERREFUSAL_DATA)")
    parser.add_argument("--judge", default="keyword",
                        help="refusal judge the task scores with (default: keyword); lm_eval --metadata "
                             "'{\"judge\": NAME}' overrides it at run time")
    parser.add_argument("--limit", type=int, default=None,
                        help="the same deterministic subsample per suite as --overrefusal-limit")
    parser.add_argument("--max-new-tokens", type=int, default=None,
                        help="override every suite's generation.max_new_tokens")


def run(args: argparse.Namespace) -> int:
    from .judges.registry import get_judge

    get_judge(args.judge)  # an unknown judge fails now, not half-way through an lm_eval run
    check_out_folder(args.out)
    for flag in ("limit", "max_new_tokens"):
        value = getattr(args, flag)
        if value is not None and value < 1:
            raise OverrefusalError(f"--{flag.replace('_', '-')} must be >= 1, got {value}")
    data_dir = data_folder(args.data)
    suites = _selected_suites(args.suite, data_dir)
    if not suites:
        raise SuiteError("no suite to export: none was named with --suite and no built-in suite has its data "
                         "here; pass --data DIR (or set OVERREFUSAL_DATA)")
    out = args.out.resolve()
    for suite in suites:
        folder = write_task(suite, out, data_dir, judge=args.judge, limit=args.limit,
                            max_new_tokens=args.max_new_tokens)
        print(f"{task_name(suite.id)}: {folder}")
    print(f"run: lm_eval --model hf --model_args pretrained=PATH --include_path {out} "
          f"--tasks {','.join(task_name(s.id) for s in suites)} --apply_chat_template")
    return 0


def check_out_folder(out: Path) -> None:
    """--out is a folder (made if missing); a file there, or above it, is named before any suite is read."""
    for place in (out, *out.parents):
        if place.exists():
            if not place.is_dir():
                which = "--out" if place == out else f"--out {out}: its parent"
                raise OverrefusalError(f"{which} {place} is a file, not a folder; lm-eval-tasks writes one folder "
                                       f"per suite into --out, so name a folder (it is made if missing)")
            return


def task_name(suite_id: str) -> str:
    """lm-eval task names are identifiers in practice: `evorefuse-test` -> `overrefusal_evorefuse_test`."""
    return "overrefusal_" + suite_id.replace("-", "_").replace(".", "_")


def write_task(suite: Suite, out: Path, data_dir: Path | None, *, judge: str = "keyword",
               limit: int | None = None, max_new_tokens: int | None = None) -> Path:
    """Write one suite's task folder under `out` and return it."""
    from .sources import load_cases

    cases = load_cases(suite, data_dir, limit)
    folder = out.resolve() / suite.id
    folder.mkdir(parents=True, exist_ok=True)
    data_file = folder / f"{suite.id}.jsonl"
    with data_file.open("w", encoding="utf-8") as fh:
        for case in cases:
            fh.write(json.dumps({"case_id": case.case_id, "prompt": case.prompt, "expect": case.expect,
                                 "category": case.category}, ensure_ascii=False) + "\n")
    config = task_config(suite, data_file, judge=judge, cases=len(cases), limit=limit,
                         max_new_tokens=max_new_tokens)
    (folder / f"{task_name(suite.id)}.yaml").write_text(_yaml_text(suite, config), encoding="utf-8")
    (folder / f"{SHIM_MODULE}.py").write_text(_SHIM, encoding="utf-8")
    return folder


def task_config(suite: Suite, data_file: Path, *, judge: str, cases: int, limit: int | None = None,
                max_new_tokens: int | None = None) -> dict:
    """The task as a plain dict (everything but the `class:` line, whose YAML tag safe_dump cannot write)."""
    gen = suite.generation
    sample = gen.temperature > 0
    generation = {"until": [],  # lm-eval's default "\n\n" would cut multi-paragraph answers; EOS still stops
                  "max_gen_toks": max_new_tokens or gen.max_new_tokens, "do_sample": sample,
                  "temperature": gen.temperature}
    config: dict = {
        "task": task_name(suite.id),
        "tag": [TAG],
        "dataset_path": "json",
        "dataset_kwargs": {"data_files": {"test": str(data_file.resolve())}},
        "test_split": "test",
        "output_type": "generate_until",
        "doc_to_text": "prompt",
        "doc_to_target": "expect",
        "generation_kwargs": generation,
        "metric_list": [
            # a comply suite wants few refusals, a refuse suite many
            {"metric": "refusal", "aggregation": "mean", "higher_is_better": suite.expect == "refuse"},
            {"metric": "expectation_mismatch", "aggregation": "mean", "higher_is_better": False},
        ],
        "metadata": {"version": 1, "suite": suite.id, "expect": suite.expect, "judge": judge, "cases": cases,
                     "limit": limit, "manifest": str(Path(suite.path).resolve()),
                     "require_chat_template": True},
    }
    if gen.system_prompt:  # lm-eval sends `description` as the system message under a chat template
        config["description"] = gen.system_prompt
    return config


def _yaml_text(suite: Suite, config: dict) -> str:
    header = (f"# Written by `overrefusal lm-eval-tasks` from {Path(suite.path).resolve()}.\n"
              f"# Run: lm_eval --model hf --model_args pretrained=PATH --include_path <this folder's parent> \\\n"
              f"#        --tasks {config['task']} --apply_chat_template\n"
              f"# The chat template is required (the task stops otherwise); for a base model without one pass\n"
              f"# --metadata '{{\"require_chat_template\": false}}'. --metadata '{{\"judge\": NAME}}' changes the judge.\n"
              f"# Scoring (process_results) is OverrefusalTask's: one verdict per answer from metadata.judge.\n")
    body = yaml.safe_dump(config, sort_keys=False, allow_unicode=True, width=120)
    return f"{header}class: !function {SHIM_MODULE}.OverrefusalTask\n{body}"


def _selected_suites(requested: list[str], data_dir: Path | None) -> list[Suite]:
    from .catalog import builtin_suites_dir, manifests_in, resolve_suites
    from .suite import load_manifest

    if requested:
        paths = resolve_suites(requested)
        chosen = [load_manifest(paths[i]) for i in requested]
        pairs = [s.id for s in chosen if s.kind == "preference"]
        if pairs:
            raise SuiteError(f"{', '.join(pairs)}: preference-pair suites are scored from hidden states, not "
                             f"generated text, so they have no lm-eval task; run them with pytest")
        return chosen
    suites = [load_manifest(p) for p in manifests_in(builtin_suites_dir())]
    return [s for s in suites if s.kind == "prompts" and _has_local_data(s, data_dir)]


def _has_local_data(suite: Suite, data_dir: Path | None) -> bool:
    """Walking all suites exports only those readable offline; a named suite reports its own missing data."""
    src = suite.source
    if src.file:
        return (Path(suite.path).parent / src.file).is_file()
    return bool(src.data and data_dir is not None and (Path(data_dir) / src.data).is_file())
