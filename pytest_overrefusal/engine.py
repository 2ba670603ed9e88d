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
        bar = _progress(len(missing), self.progress)
        started = time.perf_counter()
        try:
            if callable(getattr(self.backend, "generate_stream", None)):
                self._generate_streaming(requests, missing, keys, cache, fresh, bar)
            else:
                self._generate_chunks(requests, missing, keys, cache, fresh, bar)
        finally:
            bar(0, close=True)
            self.stats.generated += len(fresh)
            self.stats.generate_seconds += time.perf_counter() - started

    def _generate_chunks(self, requests, missing, keys, cache, fresh, bar) -> None:
        chunk = max(16, 2 * int(getattr(self.backend, "batch_size", 8)))
        for start in range(0, len(missing), chunk):
            idx = missing[start:start + chunk]
            out = self.backend.generate([requests[i] for i in idx])
            if len(out) != len(idx):
                raise BackendError(f"{self._name()}: generate() returned {len(out)} responses for {len(idx)} "
                                   f"requests")
            fresh.update(zip(idx, out))
            if cache is not None:  # stored per chunk: an interrupt keeps everything before it
                cache.put_many(getattr(self.backend, "name", ""), [(keys[i], r) for i, r in zip(idx, out)])
            bar(len(idx))

    def _generate_streaming(self, requests, missing, keys, cache, fresh, bar) -> None:
        """Backends that answer out of order (servers) yield (position, response) as each arrives; each answer
        is stored at once, so a kill loses only the requests still in flight."""
        model = getattr(self.backend, "name", "")
        for position, response in self.backend.generate_stream([requests[i] for i in missing]):
            if not 0 <= position < len(missing) or missing[position] in fresh:
                raise BackendError(f"{self._name()}: generate_stream() yielded position {position!r} "
                                   f"twice or out of range (0..{len(missing) - 1})")
            index = missing[position]
            fresh[index] = response
            if cache is not None:
                cache.put_many(model, [(keys[index], response)])
            bar(1)
        if len(fresh) != len(missing):
            raise BackendError(f"{self._name()}: generate_stream() ended after {len(fresh)} of {len(missing)} "
                               f"answers")

    def _name(self) -> str:
        return str(getattr(self.backend, "name", self.backend))


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
