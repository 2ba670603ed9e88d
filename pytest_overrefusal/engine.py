"""Batch run: cases -> (cache) -> backend.generate -> judge -> results. Items only look results up."""
from __future__ import annotations

import sys
import time
from dataclasses import dataclass, field
from typing import Callable, Sequence

from .backends.base import ChatRequest, Response, SamplingSettings, has_capability
from .boundary import context_overflow, model_boundary
from .cache import CacheError, ResponseCache, request_key
from .errors import BackendError, JudgeError, OverrefusalError
from .judges.base import Judge, Verdict
from .report.terminal import one_line
from .suite import Case, Suite


@dataclass(frozen=True)
class CaseResult:
    case: Case
    request: ChatRequest
    response: Response
    verdict: Verdict
    cached: bool = False

    @property
    def passed(self) -> bool:
        """The verdict matches what the suite expects of a good model."""
        return self.verdict.refused == (self.case.expect == "refuse")


@dataclass
class RunStats:
    requested: int = 0
    cached: int = 0
    generated: int = 0
    generate_seconds: float = 0.0  # generation only; loading the weights is load_seconds
    load_seconds: float = 0.0
    judge_seconds: float = 0.0
    uncached_reason: str = ""
    unparsed_judge_answers: int = 0  # an LLM judge's answers that named no label


def build_request(case: Case, suite: Suite, max_new_tokens: int | None = None) -> ChatRequest:
    gen = suite.generation
    sampling = SamplingSettings(max_new_tokens=max_new_tokens or gen.max_new_tokens, temperature=gen.temperature)
    return ChatRequest.user(case.prompt, system=gen.system_prompt, sampling=sampling)


class GenerationFailed(BackendError):
    """A batch failed (the model raised, answered wrongly, ran out of memory, a server gave up). Raised once;
    `partial` holds the judged results of the jobs answered before it (kept in the cache too)."""

    def __init__(self, message: str, partial: Sequence[CaseResult] = ()):
        super().__init__(message)
        self.partial = list(partial)


@dataclass(frozen=True)
class Evaluation:
    """What one engine run produced: results for the jobs that were answered, the jobs skipped because their
    prompt does not fit the model's context (job index -> why), and the failure that stopped generation."""

    results: list[CaseResult]
    too_long: dict[int, str]
    failure: GenerationFailed | None = None


@dataclass
class Engine:
    backend: object
    judge: Judge
    cache: ResponseCache | None = None
    progress: bool = True
    stats: RunStats = field(default_factory=RunStats)
    decoding: str = "full"  # "verdict": stop each greedy answer once its verdict is settled (progressive.py)

    def run(self, jobs: Sequence[tuple[Case, ChatRequest]]) -> list[CaseResult]:
        """Results in job order; a failure is raised (with the partial results) rather than returned."""
        found = self.evaluate(jobs)
        if found.failure is not None:
            raise found.failure
        return found.results

    def evaluate(self, jobs: Sequence[tuple[Case, ChatRequest]]) -> Evaluation:
        """Look every job up in the cache, skip prompts longer than the model's context, generate the rest batch
        by batch (suite by suite, so a failure leaves whole suites behind it), judge what was answered."""
        requests = [req for _, req in jobs]
        groups = [case.suite_id for case, _ in jobs]
        responses, cached, too_long, failure = self._responses(requests, groups)
        answered = [i for i, r in enumerate(responses) if r is not None]
        started = time.perf_counter()
        verdicts = self._judge([jobs[i][0].prompt for i in answered], [responses[i].text for i in answered])
        self.stats.judge_seconds += time.perf_counter() - started
        self.stats.unparsed_judge_answers = int(getattr(self.judge, "unparsed", 0))
        results = [CaseResult(case=jobs[i][0], request=jobs[i][1], response=responses[i], verdict=v,
                              cached=cached[i]) for i, v in zip(answered, verdicts)]
        if failure is not None:
            failure = GenerationFailed(str(failure), results)
        return Evaluation(results, too_long, failure)

    def _judge(self, prompts: list[str], texts: list[str]) -> list[Verdict]:
        if not prompts:
            return []
        try:
            return self.judge.judge(prompts, texts)
        except OverrefusalError:
            raise
        except Exception as exc:  # noqa: BLE001 - a judge's own failure is one line, not a traceback per item
            raise JudgeError(f"judge {getattr(self.judge, 'id', self.judge)}: judge() raised "
                             f"{type(exc).__name__}: {one_line(exc)}; the answers are cached, fix the judge and "
                             f"rerun") from None

    def _responses(self, requests, groups):
        fingerprint = getattr(self.backend, "fingerprint", None)
        if fingerprint is not None and not isinstance(fingerprint, str):
            raise BackendError(f"model {self._name()}: its 'fingerprint' must be a string (it names the weights in "
                               f"the cache key), got {type(fingerprint).__name__}")
        cache = self.cache if fingerprint else None
        if self.cache is not None and not fingerprint:
            self.stats.uncached_reason = "the model has no 'fingerprint' attribute, so its answers are not cached"
        if cache is None:
            return self._lookup_and_generate(requests, groups, None, "")
        with cache.generation_lock():
            return self._lookup_and_generate(requests, groups, cache, fingerprint)

    def _lookup_and_generate(self, requests, groups, cache, fingerprint):
        loaded_before = _load_seconds(self.backend)
        try:
            return self._lookup_and_generate_timed(requests, groups, cache, fingerprint)
        finally:
            self.stats.load_seconds += _load_seconds(self.backend) - loaded_before

    def _lookup_and_generate_timed(self, requests, groups, cache, fingerprint):
        if cache is not None:
            keys = [request_key(fingerprint, r) for r in requests]
            found = cache.get_many(sorted(set(keys)))
        else:
            keys, found = [str(i) for i in range(len(requests))], {}
        first_of: dict[str, int] = {}  # identical requests are generated once
        for i, key in enumerate(keys):
            if key not in found:
                first_of.setdefault(key, i)
        # only what is not cached is measured: a run answered from the cache never loads a tokenizer
        too_long = context_overflow(self.backend, {i: requests[i] for i in first_of.values()})
        order = {g: n for n, g in enumerate(dict.fromkeys(groups))}
        missing = sorted((i for i in first_of.values() if i not in too_long),
                         key=lambda i: (order[groups[i]], -len(requests[i].messages[-1][1])))
        self.stats.requested += len(requests)
        self.stats.cached += sum(k in found for k in keys)
        fresh: dict[int, Response] = {}
        failure = None
        if missing:
            try:
                self._generate(requests, missing, [groups[i] for i in missing], keys, cache, fresh)
            except BackendError as exc:
                failure = exc
        responses = [found[k] if k in found else fresh.get(first_of[k]) for k in keys]
        skipped = {i: too_long[first_of[k]] for i, k in enumerate(keys) if first_of.get(k) in too_long}
        return responses, [k in found for k in keys], skipped, failure

    def _generate(self, requests, missing, missing_groups, keys, cache, fresh) -> None:
        loaded_before = _load_seconds(self.backend)
        bar = _progress(len(missing), self.progress)
        started = time.perf_counter()
        try:
            # a backend that can continue answers: verdict decoding, or cached starts continued (progressive.py)
            from .progressive import generate_progressively
            missing, missing_groups = generate_progressively(self, requests, missing, missing_groups, keys, cache,
                                                             fresh, bar)
            if not missing:
                pass
            elif has_capability(self.backend, "stream"):
                self._generate_streaming(requests, missing, keys, cache, fresh, bar)
            else:
                self._generate_batches(requests, _batches(missing, missing_groups, batch_size(self.backend)),
                                       keys, cache, fresh, bar)
        finally:
            bar(0, close=True)
            self.stats.generated += len(fresh)
            # a lazy backend loads its weights on first use: that time is reported apart (load_seconds)
            self.stats.generate_seconds += time.perf_counter() - started - (_load_seconds(self.backend) - loaded_before)

    def _generate_batches(self, requests, batches, keys, cache, fresh, bar) -> None:
        """One backend batch per call, stored as soon as it returns: a kill loses at most the batch in flight."""
        for idx in batches:
            with model_boundary(self.backend, "generate()"):
                out = self.backend.generate([requests[i] for i in idx])
            self._check_answers(out, len(idx))
            fresh.update(zip(idx, out))
            self._store(cache, [(keys[i], r) for i, r in zip(idx, out)])
            bar(len(idx))

    def _generate_streaming(self, requests, missing, keys, cache, fresh, bar) -> None:
        """Backends that answer out of order (servers) yield (position, response) as each arrives; each answer
        is stored at once, so a kill loses only the requests still in flight."""
        with model_boundary(self.backend, "generate_stream()"):
            for position, response in self.backend.generate_stream([requests[i] for i in missing]):
                if not isinstance(position, int) or not 0 <= position < len(missing) or missing[position] in fresh:
                    raise BackendError(f"{self._name()}: generate_stream() yielded position {one_line(position)} "
                                       f"twice or out of range (0..{len(missing) - 1})")
                self._check_answers([response], 1)
                index = missing[position]
                fresh[index] = response
                self._store(cache, [(keys[index], response)])
                bar(1)
        if len(fresh) != len(missing):
            raise BackendError(f"{self._name()}: generate_stream() ended after {len(fresh)} of {len(missing)} "
                               f"answers")

    def _check_answers(self, out, expected: int) -> None:
        if not isinstance(out, (list, tuple)):
            raise BackendError(f"model {self._name()}: generate() returned {type(out).__name__}, not a list of "
                               f"Response (pytest_overrefusal.backends.base.Response), one per request")
        if len(out) != expected:
            raise BackendError(f"model {self._name()}: generate() returned {len(out)} responses for {expected} "
                               f"requests; it must return one Response per request, in order")
        wrong = next((r for r in out if not isinstance(r, Response) or not isinstance(r.text, str)), None)
        if wrong is not None:
            what = type(wrong).__name__ if not isinstance(wrong, Response) else f"Response with {type(wrong.text).__name__} text"
            raise BackendError(f"model {self._name()}: generate() returned {what} items; each must be a "
                               f"pytest_overrefusal.backends.base.Response(text=...)")

    def _store(self, cache, rows) -> None:
        if cache is None or self.stats.uncached_reason:
            return
        try:
            cache.put_many(getattr(self.backend, "name", ""), rows)
        except CacheError as exc:  # the answers are kept for this run; only storing them failed
            self.stats.uncached_reason = f"storing answers failed, this run's answers were not cached: {exc}"

    def _name(self) -> str:
        return one_line(getattr(self.backend, "name", None) or type(self.backend).__name__, 80)


def _batches(missing: list[int], groups: list[str], size: int) -> list[list[int]]:
    """Slices of at most `size`, never mixing two suites: a failing batch takes down only its own suite."""
    out: list[list[int]] = []
    start = 0
    while start < len(missing):
        end = start + 1
        while end < len(missing) and end - start < size and groups[end] == groups[start]:
            end += 1
        out.append(missing[start:end])
        start = end
    return out


def batch_size(backend) -> int:
    """The backend's own batch (what it runs at once); 16 for backends that do not say."""
    size = getattr(backend, "batch_size", None)
    return size if isinstance(size, int) and size > 0 else 16


def _progress(total: int, enabled: bool) -> Callable[..., None]:
    if not enabled:
        return lambda n, close=False: None
    try:
        from tqdm import tqdm
    except ImportError:
        return lambda n, close=False: None
    bar = tqdm(total=total, unit="prompt", desc="overrefusal: generating", file=sys.stderr, leave=True)

    def update(n: int, close: bool = False) -> None:
        bar.update(n) if not close else bar.close()
    return update


def _load_seconds(backend) -> float:
    """Seconds a lazy backend spent loading its weights so far (0 for backends that do not say)."""
    value = getattr(backend, "load_seconds", 0.0)
    return value if isinstance(value, (int, float)) else 0.0
