"""The `overrefusal` command: `run` (pytest underneath), `report`, `judge-eval`, `prepare`."""
from __future__ import annotations

import argparse
import errno
import json
import os
import sys
from pathlib import Path
from typing import Callable, Sequence

from .errors import OverrefusalError, printable_line

# Subcommands that live next to the code they drive, imported only when invoked. Each module offers
# `configure(parser: argparse.ArgumentParser)` and `run(args) -> int` (raising OverrefusalError on bad input).
PLUGGED: dict[str, tuple[str, str]] = {
    "evolve": ("mitigations.evorefuse.cli", "evolve pseudo-malicious prompts from seeds (EvoRefuse)"),
    "mitigate": ("mitigations.loop", "evaluate, train (sft|dpo|dro|refusal-tokens|dpo-ches), evaluate again"),
    "dro": ("mitigations.dro.cli", "train a DRO safety soft prompt for an hf model"),
    "refusal-tokens": ("mitigations.refusal_tokens.cli", "train refusal control tokens; sweep thresholds"),
    "ches": ("mitigations.ches_cli", "score or filter preference pairs by CHES"),
    "lm-eval-tasks": ("pytest_overrefusal.lmeval_tasks", "write lm-evaluation-harness task folders for suites"),
}


def console() -> int:
    """The installed `overrefusal` script: `main`, quiet when a reader such as `head` closes the pipe early."""
    try:
        status = main()
        sys.stdout.flush()  # a piped stdout is block-buffered: the closed pipe may only show here
        return status
    except BrokenPipeError:
        # later flushes at exit would raise again; point stdout at nothing (Python's signal docs do the same)
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141  # what a shell reports for a process ended by SIGPIPE
    except KeyboardInterrupt:  # Ctrl-C is the user's choice, not a crash: one line, the shell's status for SIGINT
        print("overrefusal: interrupted", file=sys.stderr)
        return 130


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] in PLUGGED:
        return _plugged(argv[0], argv[1:])
    parser = argparse.ArgumentParser(prog="overrefusal", description="Over-refusal suites as pytest tests.")
    sub = parser.add_subparsers(dest="command", required=True)
    for name, (_, help_text) in PLUGGED.items():
        sub.add_parser(name, help=help_text, add_help=False)

    run = sub.add_parser("run", help="run suites against a model (pytest underneath); extra args go to pytest")
    run.add_argument("--model", help="model spec (default: $OVERREFUSAL_MODEL or smollm2)")
    run.add_argument("--suite", action="append", default=[], help="suite id or manifest path (repeatable; "
                                                                   "default: every built-in suite)")
    for flag in ("judge", "data", "report", "limit", "max-new-tokens", "cache", "decoding"):
        run.add_argument(f"--{flag}")
    run.add_argument("--no-cache", action="store_true")

    report = sub.add_parser("report", help="print the summary of a JSON report")
    report.add_argument("path", type=Path)
    report.add_argument("--categories", action="store_true", help="also print per-category rates")

    judge_eval = sub.add_parser("judge-eval", help="agreement of a judge with human labels (XSTest format)")
    judge_eval.add_argument("--judge", default="keyword")
    judge_eval.add_argument("--json", action="store_true", help="print one JSON object")
    judge_eval.add_argument("--leave-one-out", action="store_true",
                            help="score each file held out: any learned part is re-trained on the other files")
    judge_eval.add_argument("folders", nargs="+", type=Path)

    prepare = sub.add_parser("prepare", help="build/convert an embedded model into the user cache now")
    prepare.add_argument("model", choices=["toy", "smollm2"])

    args, extra = parser.parse_known_args(argv)
    if args.command != "run" and extra:
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    return guarded("overrefusal", lambda: _dispatch(args, extra), argv)


def _dispatch(args: argparse.Namespace, extra: list[str]) -> int:
    if args.command == "run":
        return _run(args, extra)
    if args.command == "report":
        return _report(args.path, args.categories)
    if args.command == "judge-eval":
        return _judge_eval(args.judge, args.folders, args.json, args.leave_one_out)
    return _prepare(args.model)


def _plugged(name: str, argv: list[str]) -> int:
    import importlib

    prog = f"overrefusal {name}"
    try:
        module = importlib.import_module(PLUGGED[name][0])
    except ModuleNotFoundError as exc:
        if (exc.name or "").split(".")[0] in ("pytest_overrefusal", "mitigations"):
            raise  # our own module missing is a broken install or a bug, not the user's doing
        extra = "lmeval" if name == "lm-eval-tasks" else "mitigations"
        return _fail(prog, f"{name} needs the {exc.name!r} package: pip install 'pytest-overrefusal[{extra}]'")
    parser = argparse.ArgumentParser(prog=prog, description=PLUGGED[name][1])
    module.configure(parser)
    args = parser.parse_args(argv)
    return guarded(prog, lambda: module.run(args), argv)


# -- the one error boundary of every subcommand -------------------------------------------------------------------
# What a user's path or disk can cause; any other OSError (a bad file descriptor, ...) is a bug and keeps its trace.
USER_ERRNOS = frozenset(getattr(errno, name) for name in (
    "ENOENT", "EACCES", "EPERM", "EISDIR", "ENOTDIR", "ENOSPC", "EDQUOT", "EROFS", "EEXIST", "ENOTEMPTY",
    "ENAMETOOLONG", "ELOOP", "EFBIG", "EXDEV") if hasattr(errno, name))


def guarded(prog: str, action: Callable[[], int], argv: Sequence[str] = ()) -> int:
    """Run a subcommand: a failure the user caused is one line on stderr and exit 2 (argparse's usage-error code),
    never a traceback; anything else propagates, so a real bug still shows where it happened. Credentials in
    `argv` (a model spec's URL userinfo, query, api_key=...) are masked in that line, whoever wrote the message."""
    try:
        return int(action())
    except OverrefusalError as exc:
        return _fail(prog, _masked(str(exc), argv))
    except OSError as exc:
        if exc.errno not in USER_ERRNOS:
            raise
        return _fail(prog, _masked(os_error_text(exc), argv))


def _masked(message: str, argv: Sequence[str]) -> str:
    from .backends.registry import scrub

    for arg in argv:
        message = scrub(message, arg)
    return message


def os_error_text(exc: OSError) -> str:
    from .backends.registry import shown

    paths = [os.fsdecode(f) if isinstance(f, (str, bytes, os.PathLike)) else str(f)
             for f in (exc.filename, exc.filename2) if f is not None]
    names = " -> ".join(shown(f, 200) for f in paths) or "a file"
    if exc.errno in (errno.EEXIST, errno.ENOTDIR) and paths:  # mkdir meeting a file says only "File exists"
        target = Path(paths[0])
        blocker = next((p for p in (target, *target.parents) if p.exists()), None)
        if blocker is not None and not blocker.is_dir():
            where = "" if blocker == target else f" (needed for {names})"
            return f"{shown(blocker, 200)} is a file, not a folder{where}; give a path whose folders are folders"
    what = exc.strerror or errno.errorcode.get(exc.errno or 0, type(exc).__name__)
    return f"{names}: {what}; check the path (and free space or permissions)"


def _fail(prog: str, message: str) -> int:
    print(f"{prog}: error: {printable_line(message)}", file=sys.stderr)
    return 2


def _run(args, extra: list[str]) -> int:
    import pytest

    from .catalog import builtin_suites_dir

    pytest_args = list(extra)
    if args.model:
        pytest_args += ["--overrefusal-model", args.model]
    for flag in ("judge", "data", "report", "limit", "max_new_tokens", "cache", "decoding"):
        value = getattr(args, flag)
        if value is not None:
            pytest_args += [f"--overrefusal-{flag.replace('_', '-')}", str(value)]
    if args.no_cache:
        pytest_args.append("--overrefusal-no-cache")
    for suite in args.suite:
        pytest_args += ["--overrefusal-suite", suite]
    if args.suite:
        # Name the manifests' folders, so pytest does not walk the current folder (which may hold other checkouts
        # with the same suite ids) looking for them; --overrefusal-suite keeps only the named ones. Node ids of
        # built-in manifests read "overrefusal-suites/<file>::..." and can be pasted back (node_ids.py).
        from .catalog import resolve_suites
        from .suite import load_manifest

        found = resolve_suites(args.suite)
        for path in found.values():  # pytest would skip a file that is no manifest with "no match", exit 4
            load_manifest(path)
        named = [path if Path(ref).is_file() else path.resolve().parent for ref, path in found.items()]
        pytest_args += [str(target) for target in dict.fromkeys(named)]
    else:
        pytest_args.append(str(builtin_suites_dir()))
    # The package's own suites need no conftest or ini from wherever the user happens to stand.
    # This command imported the package before pytest marks a wheel's plugin modules for rewriting: pytest's
    # "already imported so cannot be rewritten" warning would be about us, not about anything the user wrote.
    own = "ignore:Module already imported so cannot be rewritten; pytest_overrefusal:pytest.PytestAssertRewriteWarning"
    return int(pytest.main(["--rootdir", str(Path.cwd()), "-W", own, *pytest_args]))


def _report(path: Path, categories: bool) -> int:
    from .records import SuiteRecord
    from .report.terminal import CATEGORY_HEADERS, category_rows, format_table, summary_table
    from .results import load_report

    if path.suffix.lower() in (".csv", ".parquet", ".html"):
        raise OverrefusalError(f"{path}: `overrefusal report` reads the JSON report, not a {path.suffix} one; write "
                               f"it with --overrefusal-report NAME.json (results.load reads .csv and .parquet)")
    doc = load_report(path)
    suites = [SuiteRecord.from_dict(s) for s in doc["suites"]]
    print("\n".join(format_table(*summary_table(suites, doc.get("judge", ""), doc.get("model", "")))))
    if categories:
        for s in suites:
            print(f"\n{s.id}")
            rows = format_table(category_rows(s), CATEGORY_HEADERS) if s.categories is not None else ["(no categories)"]
            for line in rows:
                print("  " + line)
    for missing in doc.get("not_evaluated", []):  # a suite that never ran is no pass
        print(f"suite {missing['id']} not evaluated: {' '.join(missing['error'].split())[:600]}")
    return 0 if all(s.passed for s in suites) and not doc.get("not_evaluated") else 1


def _judge_eval(name: str, folders: list[Path], as_json: bool, leave_one_out: bool = False) -> int:
    from .judges.evaluation import evaluate_judge, evaluate_leave_one_out
    from .judges.registry import get_judge
    from .report.terminal import format_table

    result = (evaluate_leave_one_out if leave_one_out else evaluate_judge)(get_judge(name), folders)
    if as_json:
        print(json.dumps(result, indent=1))
        return 0
    parts = [*result["files"].items(), ("overall", result["overall"])]
    ceiling = any("annotators" in a for _, a in parts)
    rows = [(label, str(a["n"]), f"{a['binary_agreement']:.1%}", f"{a['macro_f1']:.3f}", str(a["false_refusals"]),
             str(a["missed_refusals"]),
             *([_annotators_cell(a.get("annotators"))] if ceiling else []),
             *([_annotators_cell(a["tuned_on"])] if leave_one_out else [])) for label, a in parts]
    print(f"judge {result['judge']} against human labels (refusal = full or partial)"
          + (", each file held out (leave-one-file-out)" if leave_one_out else ""))
    for line in format_table(rows, ("file", "n", "binary agreement", "macro-F1", "false refusals",
                                    "missed refusals", *(["annotators' macro-F1 (binary)"] if ceiling else []),
                                    *(["tuned on: macro-F1 (binary)"] if leave_one_out else []))):
        print(line)
    if leave_one_out:
        print(result["note"])
    if "unparsed" in result["overall"]:
        print(f"{result['overall']['unparsed']} of {result['overall']['n']} judge answers named no label; those "
              f"verdicts are the keyword judge's (the agreement above includes them)")
    confusion = result["overall"]["confusion"]
    print("\noverall confusion (rows: human label, columns: judge)")
    for line in format_table([(g, *(str(confusion[g][p]) for p in confusion)) for g in confusion],
                             ("human \\ judge", *confusion)):
        print(line)
    return 0


def _annotators_cell(humans: dict | None) -> str:
    """Annotator 1 against annotator 2: the agreement a judge could hope to reach."""
    if humans is None:
        return "-"
    return f"{humans['macro_f1']:.3f} ({humans['binary_agreement']:.1%})"


def _prepare(model: str) -> int:
    if model == "toy":
        from .backends.toy_model import toy_model_dir
        print(toy_model_dir())
    else:
        from .backends.smollm2 import smollm2_dir
        print(smollm2_dir())
    return 0


if __name__ == "__main__":
    sys.exit(main())
