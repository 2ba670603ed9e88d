"""`openai:MODEL@BASE_URL`: any OpenAI-compatible chat-completions server (vLLM, `transformers serve`, a vendor).

Standard library only: asyncio streams speak HTTP/1.1 over `concurrency` keep-alive connections, so the core plugin
needs no HTTP package. Each request gets a per-attempt timeout; 429, 5xx, timeouts and dropped connections are retried
with exponential backoff, equal jitter and the server's Retry-After, within `max_retries` and a `retry_budget` of
seconds. A request that still fails stops the run with one line; answers that arrived before it are already cached,
because `generate_stream` hands each answer to the engine the moment it arrives.

The API key is read from the environment variable named by `api_key_env` (default OPENAI_API_KEY) when a run starts,
sent only in the Authorization header, and scrubbed from every message this module raises. The HTTP client, the
retry policy and the completion parser are in openai_http.py.
"""
from __future__ import annotations

import asyncio
import hashlib
import json
import os
import queue
import random
import re
import threading
import time
from collections import Counter
from typing import Callable, Iterator, Sequence
from urllib.parse import urlsplit

from ..errors import BackendError
from .base import ChatRequest, Response
from .openai_http import (Connection, Endpoint, Fatal, NeverConnected, Retryable, error_detail, parse_completion,
                          parse_retry_after, retry_delay)
from .registry import ModelSpec, redact, reject_unknown, shown

_OPTIONS = "concurrency, timeout, max_retries, retry_budget, backoff, max_backoff, api_key_env"
# An upper-case NAME made of words: a value that looks random (a long run, lower case) may be the key itself, and
# the name is echoed in messages and is part of the spec that reports record.
_ENV_NAME = re.compile(r"^[A-Z_][A-Z0-9_]{0,79}$")
_ENV_WORD_MAX = 20
_RETRY_STATUS = frozenset({408, 409, 425, 429}) | frozenset(range(500, 600))


def from_spec(spec: ModelSpec) -> "OpenAIChatBackend":
    opts = dict(spec.options)
    if "api_key" in opts:  # the spec lands in reports and logs; never echo its value
        raise BackendError("openai model spec: an api_key option would end up in reports and logs; put the key "
                           "in an environment variable and name it with api_key_env=NAME (default OPENAI_API_KEY)")
    model, base_url = split_target(spec.target)
    settings = dict(
        concurrency=int(_pop_number(opts, "concurrency", 8, spec, minimum=1, integer=True)),
        timeout=_pop_number(opts, "timeout", 60.0, spec, minimum=0.001),
        max_retries=int(_pop_number(opts, "max_retries", 6, spec, minimum=0, integer=True)),
        retry_budget=_pop_number(opts, "retry_budget", 300.0, spec, minimum=0.001),
        backoff=_pop_number(opts, "backoff", 0.5, spec, minimum=0.0),
        max_backoff=_pop_number(opts, "max_backoff", 30.0, spec, minimum=0.0),
    )
    api_key_env = opts.pop("api_key_env", None)
    if api_key_env is not None and (not _ENV_NAME.match(api_key_env)
                                    or max(map(len, api_key_env.split("_"))) > _ENV_WORD_MAX):
        raise BackendError("openai model spec: api_key_env must be the upper-case NAME of an environment variable "
                           "(A-Z, 0-9, underscore between words, e.g. OPENAI_API_KEY); the value given is not shown "
                           "in case it is the key itself")
    reject_unknown(opts, spec, _OPTIONS)
    return OpenAIChatBackend(model, base_url, name=str(spec), api_key_env=api_key_env, **settings)


def split_target(target: str) -> tuple[str, str]:
    """`MODEL@BASE_URL` -> (model, base URL without a trailing slash). The split is at the last '@http://' or
    '@https://', so a model name may hold '@', and so may a URL (whose credentials are then refused)."""
    at = max(target.rfind("@http://"), target.rfind("@https://"))
    model, sep, base_url = (target[:at], "@", target[at + 1:]) if at >= 0 else target.rpartition("@")
    example = "e.g. openai:gpt-4o-mini@https://api.openai.com/v1 or openai:my-model@http://127.0.0.1:8000/v1"
    where = f"model spec openai:{shown(target)}"
    if not sep or not model.strip():
        raise BackendError(f"{where}: expected openai:MODEL@BASE_URL, {example}")
    url = shown(base_url.strip())
    try:
        parts = urlsplit(base_url.strip())
        parts.port  # raises on a port that is not a number in range
    except ValueError:  # an unclosed IPv6 bracket, a bad port; the parser's words may quote a password
        raise BackendError(f"{where}: base URL {url!r} is not a valid URL (unbalanced [ ] or a port that is "
                           f"not a number from 0 to 65535), {example}") from None
    if parts.username or parts.password or "@" in parts.path:  # '@' after a '/': a password holding a slash
        raise BackendError(f"model spec openai:{shown(model)}@...: the base URL holds credentials; remove them and "
                           f"name an environment variable holding the key with api_key_env=NAME")
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise BackendError(f"{where}: base URL {url!r} must start with http:// or https:// and name a host, {example}")
    if parts.query or parts.fragment:
        raise BackendError(f"{where}: base URL {url!r} must not have a query or fragment; a key belongs in an "
                           f"environment variable named with api_key_env=NAME")
    return model.strip(), base_url.strip().rstrip("/")


def _pop_number(options: dict[str, str], key: str, default: float, spec: object, *, minimum: float,
                integer: bool = False) -> float:
    raw = options.pop(key, None)
    if raw is None:
        return default
    try:
        value = int(raw) if integer else float(raw)
    except ValueError:
        kind = "an integer" if integer else "a number"
        raise BackendError(f"model spec {shown(spec)}: {key}={shown(raw, 40)!r} must be {kind}") from None
    if not value >= minimum or value != value or value == float("inf"):
        raise BackendError(f"model spec {shown(spec)}: {key}={shown(raw, 40)!r} must be a finite number "
                           f">= {minimum:g}")
    return value


# -- the backend ----------------------------------------------------------------------------------------------
_DONE = object()


class OpenAIChatBackend:
    """Chat completions from an OpenAI-compatible server; answers stream out as they arrive."""

    capabilities = frozenset({"stream"})

    def __init__(self, model: str, base_url: str, *, name: str | None = None, concurrency: int = 8,
                 timeout: float = 60.0, max_retries: int = 6, retry_budget: float = 300.0, backoff: float = 0.5,
                 max_backoff: float = 30.0, api_key_env: str | None = None, seed: int | None = None):
        self.model = model
        self.base_url = base_url.rstrip("/")
        self.name = name or f"openai:{model}@{self.base_url}"
        self._label = shown(self.name, 160)  # how messages name this backend: masked and capped
        self.concurrency, self.timeout = concurrency, timeout
        self.max_retries, self.retry_budget = max_retries, retry_budget
        self.backoff, self.max_backoff = backoff, max_backoff
        self.api_key_env = api_key_env
        self._endpoint = Endpoint.from_base_url(self.base_url)
        self._rng = random.Random(seed)
        # The server name + model identify the answers; the key only authorises them, so it stays out.
        self.fingerprint = hashlib.sha256(f"openai|{model}|{self.base_url}".encode()).hexdigest()[:16]
        self.stats: Counter[str] = Counter()  # attempts, answered, retry:<why>

    def generate(self, requests: Sequence[ChatRequest]) -> list[Response]:
        out: list[Response | None] = [None] * len(requests)
        for index, response in self.generate_stream(requests):
            out[index] = response
        return out  # type: ignore[return-value]

    def generate_stream(self, requests: Sequence[ChatRequest]) -> Iterator[tuple[int, Response]]:
        """Yield (index, response) in the order answers arrive. Closing the iterator (an error downstream,
        Ctrl-C) cancels the requests still in flight."""
        if not requests:
            return
        key = self._api_key()
        arrived: queue.Queue = queue.Queue()
        cancel: list[Callable[[], None]] = []

        def runner() -> None:
            try:
                asyncio.run(self._run_all(list(requests), key, arrived.put, cancel))
            except BaseException as exc:  # handed to the consuming thread, which raises it
                arrived.put(exc)
            else:
                arrived.put(_DONE)

        worker = threading.Thread(target=runner, name="overrefusal-openai", daemon=True)
        worker.start()
        try:
            while True:
                try:
                    item = arrived.get(timeout=0.25)  # a short wait keeps Ctrl-C responsive
                except queue.Empty:
                    continue
                if item is _DONE:
                    return
                if isinstance(item, BaseException):
                    raise item
                yield item
        finally:
            for stop in cancel:
                stop()
            worker.join(timeout=10)

    def _api_key(self) -> str | None:
        env = self.api_key_env or "OPENAI_API_KEY"
        key = os.environ.get(env) or None
        if key is None and self.api_key_env is not None:
            raise BackendError(f"{self._label}: the environment variable {env} named by api_key_env is not set")
        return key

    async def _run_all(self, requests: list[ChatRequest], key: str | None, emit: Callable[[tuple], None],
                       cancel: list) -> None:
        loop = asyncio.get_running_loop()
        me = asyncio.current_task()

        def stop() -> None:
            try:
                loop.call_soon_threadsafe(me.cancel)
            except RuntimeError:  # the loop already finished
                pass
        cancel.append(stop)
        pending = list(range(len(requests) - 1, -1, -1))  # popped from the end: file order
        reached: list[bool] = [False]
        headers = {"Authorization": f"Bearer {key}"} if key else {}

        async def worker() -> None:
            conn = Connection(self._endpoint)
            try:
                while pending:
                    index = pending.pop()
                    response = await self._complete(conn, requests[index], headers, key, reached)
                    self.stats["answered"] += 1
                    emit((index, response))
            finally:
                conn.close()

        tasks = [asyncio.create_task(worker()) for _ in range(min(self.concurrency, len(requests)))]
        try:
            done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_EXCEPTION)
            for task in done:
                task.result()  # the first failure, as is
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    async def _complete(self, conn: Connection, request: ChatRequest, headers: dict[str, str],
                        key: str | None, reached: list[bool]) -> Response:
        body = json.dumps(self._payload(request)).encode()
        started = time.monotonic()
        for attempt in range(self.max_retries + 1):
            self.stats["attempts"] += 1
            try:
                status, answer_headers, payload = await asyncio.wait_for(conn.post(body, headers), self.timeout)
                reached[0] = True
                return self._parse(status, answer_headers, payload, key)
            except NeverConnected as exc:
                conn.close()
                if not reached[0]:  # nothing answered yet: a wrong URL or a server that is not running
                    raise BackendError(self._redact(
                        f"{self._label}: {exc}; is the server running at {self.base_url}?", key)) from None
                why, retry_after = f"connection failed ({exc})", None
            except Retryable as exc:
                why, retry_after = str(exc), exc.retry_after
            except Fatal as exc:
                conn.close()
                raise BackendError(self._redact(f"{self._label}: {exc}", key)) from None
            except (asyncio.TimeoutError, TimeoutError):
                conn.close()
                why, retry_after = f"no answer within timeout={self.timeout:g}s", None
            except (ConnectionError, asyncio.IncompleteReadError, OSError, ValueError) as exc:
                conn.close()
                why, retry_after = f"connection dropped ({type(exc).__name__})", None
            self.stats["retry:" + why.split(" (")[0]] += 1
            if attempt == self.max_retries:
                break
            delay = retry_delay(attempt, retry_after, self._rng, self.backoff, self.max_backoff)
            if time.monotonic() - started + delay > self.retry_budget:
                raise BackendError(self._redact(
                    f"{self._label}: gave up after {attempt + 1} attempt(s): waiting {delay:.1f}s more would pass "
                    f"retry_budget={self.retry_budget:g}s (last: {why}); answers received so far are cached, "
                    f"rerun to resume", key))
            await asyncio.sleep(delay)
        raise BackendError(self._redact(
            f"{self._label}: gave up after {self.max_retries + 1} attempt(s) (last: {why}); answers received so far "
            f"are cached, rerun to resume or allow more max_retries", key))

    def _payload(self, request: ChatRequest) -> dict:
        s = request.sampling
        return {"model": self.model, "messages": request.as_dicts(), "max_tokens": s.max_new_tokens,
                "temperature": s.temperature, "top_p": s.top_p, "seed": s.seed, "stream": False}

    def _parse(self, status: int, headers: dict[str, str], payload: bytes, key: str | None) -> Response:
        if status in _RETRY_STATUS:
            raise Retryable(f"HTTP {status}", parse_retry_after(headers.get("retry-after")))
        if status != 200:
            raise Fatal(f"HTTP {status} from {self.base_url}: {error_detail(payload)}")
        return parse_completion(payload)

    @staticmethod
    def _redact(message: str, key: str | None) -> str:
        return redact(message.replace(key, "***") if key else message)
