"""Batch run: cases -> (cache) -> backend.generate -> judge -> results. Items only look results up."""
from __future__ import annotations

import sys
import time
from dataclasses import dataclass, field
from typing import Callable, Sequence

from .backends.base import ChatRequest, Response, SamplingSettings
from .cache import ResponseCache, request_key
from .errors import BackendError
from .judges.base import Judge, Verdict
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
    generate_seconds: float = 0.0
    judge_seconds: float = 0.0
    uncached_reason: str = ""
    unparsed_judge_answers: int = 0  # an LLM judge's answers that named no label


def build_request(case: Case, suite: Suite, max_new_tokens: int | None = None) -> ChatRequest:
    gen = suite.generation
    sampling = SamplingSettings(max_new_tokens=max_new_tokens or gen.max_new_tokens, temperature=gen.temperature)
    return ChatRequest.user(case.prompt, system=gen.system_prompt, sampling=sampling)


@dataclass
class Engine:
    backend: object
    judge: Judge
    cache: ResponseCache | None = None
    progress: bool = True
    stats: RunStats = field(default_factory=RunStats)

    def run(self, jobs: Sequence[tuple[Case, ChatRequest]]) -> list[CaseResult]:
        requests = [req for _, req in jobs]
        responses, cached = self._responses(requests)
        started = time.perf_counter()
        verdicts = self.judge.judge([c.prompt for c, _ in jobs], [r.text for r in responses])
        self.stats.judge_seconds += time.perf_counter() - started
        self.stats.unparsed_judge_answers = int(getattr(self.judge, "unparsed", 0))
        return [CaseResult(case=c, request=req, response=resp, verdict=v, cached=hit)
                for (c, req), resp, v, hit in zip(jobs, responses, verdicts, cached)]

    def _responses(self, requests: Sequence[ChatRequest]) -> tuple[list[Response], list[bool]]:
        fingerprint = getattr(self.backend, "fingerprint", None)
        cache = self.cache if fingerprint else None
        if self.cache is not None and not fingerprint:
            self.stats.uncached_reason = "the model has no 'fingerprint' attribute, so its answers are not cached"
        if cache is None:
            return self._lookup_and_generate(requests, None, "")
        with cache.generation_lock():
            return self._lookup_and_generate(requests, cache, fingerprint)

    def _lookup_and_generate(self, requests, cache, fingerprint) -> tuple[list[Response], list[bool]]:
        if cache is not None:
            keys = [request_key(fingerprint, r) for r in requests]
            found = cache.get_many(sorted(set(keys)))
        else:
            keys, found = [str(i) for i in range(len(requests))], {}
        first_of: dict[str, int] = {}  # identical requests are generated once
        for i, key in enumerate(keys):
            if key not in found:
                first_of.setdefault(key, i)
        missing = sorted(first_of.values(), key=lambda i: -len(requests[i].messages[-1][1]))
        self.stats.requested += len(requests)
        self.stats.cached += sum(k in found for k in keys)
        fresh: dict[int, Response] = {}
        if missing:
            self._generate(requests, missing, keys, cache, fresh)
        responses = [found[k] if k in found else fresh[first_of[k]] for k in keys]
        return responses, [k in found for k in keys]

    def _generate(self, requests, missing, keys, cache, fresh) -> None:
        chunk = max(16, 2 * int(getattr(self.backend, "batch_size", 8)))
        bar = _progress(len(missing), self.progress)
        started = time.perf_counter()
        try:
            for start in range(0, len(missing), chunk):
                idx = missing[start:start + chunk]
                out = self.backend.generate([requests[i] for i in idx])
                if len(out) != len(idx):
                    raise BackendError(f"{getattr(self.backend, 'name', self.backend)}: generate() returned "
                                       f"{len(out)} responses for {len(idx)} requests")
                fresh.update(zip(idx, out))
                if cache is not None:  # stored per chunk: an interrupt keeps everything before it
                    cache.put_many(getattr(self.backend, "name", ""), [(keys[i], r) for i, r in zip(idx, out)])
                bar(len(idx))
        finally:
            bar(0, close=True)
            self.stats.generated += len(fresh)
            self.stats.generate_seconds += time.perf_counter() - started


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
