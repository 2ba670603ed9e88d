"""`openai:MODEL@BASE_URL`: any OpenAI-compatible chat-completions server (vLLM, `transformers serve`, a vendor).

Standard library only: asyncio streams speak HTTP/1.1 over `concurrency` keep-alive connections, so the core plugin
needs no HTTP package. Each request gets a per-attempt timeout; 429, 5xx, timeouts and dropped connections are retried
with exponential backoff, equal jitter and the server's Retry-After, within `max_retries` and a `retry_budget` of
seconds. A request that still fails stops the run with one line; answers that arrived before it are already cached,
because `generate_stream` hands each answer to the engine the moment it arrives.

The API key is read from the environment variable named by `api_key_env` (default OPENAI_API_KEY) when a run starts,
sent only in the Authorization header, and scrubbed from every message this module raises.
"""
from __future__ import annotations

import asyncio
import email.utils
import hashlib
import json
import os
import queue
import random
import re
import ssl
import threading
import time
import zlib
from collections import Counter
from dataclasses import dataclass
from typing import Callable, Iterator, Sequence
from urllib.parse import urlsplit

from ..errors import BackendError
from .base import ChatRequest, Response
from .registry import ModelSpec, redact, reject_unknown, shown

_OPTIONS = "concurrency, timeout, max_retries, retry_budget, backoff, max_backoff, api_key_env"
# An upper-case NAME made of words: a value that looks random (a long run, lower case) may be the key itself, and
# the name is echoed in messages and is part of the spec that reports record.
_ENV_NAME = re.compile(r"^[A-Z_][A-Z0-9_]{0,79}$")
_ENV_WORD_MAX = 20
_RETRY_STATUS = frozenset({408, 409, 425, 429}) | frozenset(range(500, 600))
_MAX_BODY = 64 * 1024 * 1024  # one answer's bytes, however framed; README's openai section documents it
# What the server says about why it stopped -> the engine's three finish reasons. A content filter ended the answer
# on purpose, so it is a complete ("stop") answer whose (possibly empty) text the judge sees as is.
_FINISH = {"stop": "stop", "eos": "stop", "end_turn": "stop", "content_filter": "stop", "tool_calls": "stop",
           "function_call": "stop", "length": "length", "max_tokens": "length"}


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


# -- retry policy (pure functions, property-tested) ------------------------------------------------------------
def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """Seconds to wait from a Retry-After header: delta-seconds or an HTTP date; None when absent or unreadable."""
    if value is None:
        return None
    text = value.strip()
    try:
        seconds = float(text)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(text)
        except (TypeError, ValueError, IndexError):
            return None
        if when is None or when.tzinfo is None:
            return None
        seconds = when.timestamp() - (time.time() if now is None else now)
    if seconds != seconds or seconds == float("inf"):
        return None
    return max(0.0, seconds)


def retry_delay(attempt: int, retry_after: float | None, rng: random.Random, base: float, cap: float) -> float:
    """Exponential backoff with equal jitter, in [ceiling/2, ceiling] with ceiling = min(cap, base * 2**attempt),
    spreading retries of many clients apart; never shorter than what the server asked for with Retry-After."""
    ceiling = min(cap, base * 2.0 ** min(attempt, 1000))  # 2.0 ** 1024 overflows; 60 broke the contract for tiny bases
    delay = ceiling / 2 + rng.uniform(0.0, ceiling / 2)
    return delay if retry_after is None else max(delay, retry_after)


# -- HTTP/1.1 over asyncio streams ----------------------------------------------------------------------------
class _Retryable(Exception):
    """A failure worth another attempt (the server was busy, broken for a moment, or the connection dropped)."""

    def __init__(self, why: str, retry_after: float | None = None):
        super().__init__(why)
        self.retry_after = retry_after


class _Fatal(Exception):
    """A failure another attempt would repeat: bad request, auth, unknown model, an answer that is not a completion."""


class _NeverConnected(Exception):
    """The server could not be reached at all (refused, unknown host)."""


@dataclass(frozen=True)
class _Endpoint:
    host: str
    port: int
    tls: bool
    path: str  # the chat-completions path, e.g. /v1/chat/completions

    @classmethod
    def from_base_url(cls, base_url: str) -> "_Endpoint":
        parts = urlsplit(base_url)
        tls = parts.scheme == "https"
        return cls(host=parts.hostname or "", port=parts.port or (443 if tls else 80), tls=tls,
                   path=(parts.path.rstrip("/") or "") + "/chat/completions")


class _Connection:
    """One keep-alive connection; reopened after any failure, since its state is then unknown."""

    def __init__(self, endpoint: _Endpoint):
        self.endpoint = endpoint
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def post(self, body: bytes, headers: dict[str, str]) -> tuple[int, dict[str, str], bytes]:
        ep = self.endpoint
        if self.writer is None:
            try:
                self.reader, self.writer = await asyncio.open_connection(
                    ep.host, ep.port, ssl=ssl.create_default_context() if ep.tls else None)
            except OSError as exc:
                raise _NeverConnected(f"cannot connect to {ep.host}:{ep.port} ({exc.strerror or exc})") from None
        head = [f"POST {ep.path} HTTP/1.1", f"Host: {ep.host}:{ep.port}", "Content-Type: application/json",
                "Accept: application/json", "User-Agent: pytest-overrefusal", f"Content-Length: {len(body)}"]
        head += [f"{k}: {v}" for k, v in headers.items()]
        self.writer.write(("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + body)
        await self.writer.drain()
        status, answer_headers = await self._read_head()
        payload = await self._read_body(answer_headers)
        # HTTP/1.0 closes after each answer unless it says keep-alive; reusing it would cost a retry
        persistent = "keep-alive" if answer_headers.get(":version") == "HTTP/1.1" else "close"
        if answer_headers.get("connection", persistent).lower() == "close":
            self.close()
        return status, answer_headers, _decoded(payload, answer_headers.get("content-encoding", ""))

    async def _read_head(self) -> tuple[int, dict[str, str]]:
        assert self.reader is not None
        line = await self.reader.readline()
        if not line:
            raise ConnectionResetError("the server closed the connection without answering")
        fields = line.decode("latin-1").split(" ", 2)
        if len(fields) < 2 or not fields[0].startswith("HTTP/") or not fields[1].isdigit():
            raise ConnectionResetError(f"garbled status line {line[:60]!r}")
        headers: dict[str, str] = {}
        while True:
            raw = await self.reader.readline()
            if raw in (b"\r\n", b"\n"):
                return int(fields[1]), {**headers, ":version": fields[0].strip()}
            if not raw or len(headers) > 200:
                raise ConnectionResetError("the connection dropped inside the answer's headers")
            name, _, value = raw.decode("latin-1").partition(":")
            headers[name.strip().lower()] = value.strip()

    async def _read_body(self, headers: dict[str, str]) -> bytes:
        assert self.reader is not None
        if "chunked" in headers.get("transfer-encoding", "").lower():
            chunks, total = [], 0
            while True:
                size = int((await self.reader.readline()).split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while (await self.reader.readline()) not in (b"\r\n", b"\n", b""):
                        pass  # trailers
                    return b"".join(chunks)
                total += size
                if total > _MAX_BODY:
                    raise _Fatal(_too_long("its chunks add up to more"))
                chunks.append((await self.reader.readexactly(size + 2))[:-2])
        if "content-length" in headers:
            length = int(headers["content-length"])
            if length > _MAX_BODY:
                raise _Fatal(_too_long(f"it announces {length} bytes"))
            return await self.reader.readexactly(length)
        # No length: the body runs to the end of the connection, which may take many reads.
        body = bytearray()
        while True:
            piece = await self.reader.read(min(1 << 20, _MAX_BODY + 1 - len(body)))
            if not piece:
                break
            body += piece
            if len(body) > _MAX_BODY:
                raise _Fatal(_too_long("it runs on past that without ending"))
        self.close()
        return bytes(body)

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
        self.reader = self.writer = None


def _decoded(payload: bytes, encoding: str) -> bytes:
    """A body some proxies compress although we asked for none; decompressed within the same cap."""
    encoding = encoding.strip().lower()
    if encoding in ("", "identity"):
        return payload
    if encoding not in ("gzip", "x-gzip", "deflate"):
        raise _Fatal(f"the answer is encoded as {encoding[:40]!r}, which this client does not read; serve it "
                     f"uncompressed (or gzip)")
    wbits = 47 if "gzip" in encoding else 15  # 47: a gzip or zlib header; deflate servers send zlib
    inflater = zlib.decompressobj(wbits)
    try:
        body = inflater.decompress(payload, _MAX_BODY + 1)
    except zlib.error as exc:
        raise _Fatal(f"the answer claims {encoding} encoding but does not decompress ({exc})") from None
    if len(body) > _MAX_BODY:
        raise _Fatal(_too_long("once decompressed"))
    return body


def _too_long(why: str) -> str:
    return (f"the answer is larger than the {_MAX_BODY} bytes ({_MAX_BODY / 2 ** 20:g} MiB) cap on one chat completion ({why}); is the base URL "
            f"an OpenAI-compatible chat-completions server?")


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
        self._endpoint = _Endpoint.from_base_url(self.base_url)
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
            conn = _Connection(self._endpoint)
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

    async def _complete(self, conn: _Connection, request: ChatRequest, headers: dict[str, str],
                        key: str | None, reached: list[bool]) -> Response:
        body = json.dumps(self._payload(request)).encode()
        started = time.monotonic()
        for attempt in range(self.max_retries + 1):
            self.stats["attempts"] += 1
            try:
                status, answer_headers, payload = await asyncio.wait_for(conn.post(body, headers), self.timeout)
                reached[0] = True
                return self._parse(status, answer_headers, payload, key)
            except _NeverConnected as exc:
                conn.close()
                if not reached[0]:  # nothing answered yet: a wrong URL or a server that is not running
                    raise BackendError(self._redact(
                        f"{self._label}: {exc}; is the server running at {self.base_url}?", key)) from None
                why, retry_after = f"connection failed ({exc})", None
            except _Retryable as exc:
                why, retry_after = str(exc), exc.retry_after
            except _Fatal as exc:
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
            raise _Retryable(f"HTTP {status}", parse_retry_after(headers.get("retry-after")))
        if status != 200:
            raise _Fatal(f"HTTP {status} from {self.base_url}: {_error_detail(payload)}")
        return parse_completion(payload)

    @staticmethod
    def _redact(message: str, key: str | None) -> str:
        return redact(message.replace(key, "***") if key else message)


def parse_completion(payload: bytes) -> Response:
    """One chat.completion JSON document -> Response; anything else is a _Fatal naming what was wrong."""
    try:
        doc = json.loads(payload)
    except ValueError:
        raise _Fatal(f"the answer is not JSON: {payload[:80]!r}") from None
    choices = doc.get("choices") if isinstance(doc, dict) else None
    if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
        raise _Fatal(f"the answer is not a chat completion (no 'choices'): {payload[:80]!r}")
    choice = choices[0]
    message = choice.get("message")
    if not isinstance(message, dict):  # an empty reply must be the server's words, not a missing field read as ""
        raise _Fatal(f"the answer is not a chat completion (its first choice has no 'message'): {payload[:80]!r}")
    content = message.get("content")
    if content is not None and not isinstance(content, str):
        raise _Fatal(f"the answer's message content is a {type(content).__name__}, not text")
    usage = doc.get("usage") if isinstance(doc.get("usage"), dict) else {}
    return Response(text=content or "", finish_reason=_FINISH.get(choice.get("finish_reason"), "stop"),
                    prompt_tokens=_count(usage.get("prompt_tokens")),
                    completion_tokens=_count(usage.get("completion_tokens")))


def _count(value) -> int:
    return value if isinstance(value, int) and value >= 0 else 0


def _error_detail(payload: bytes) -> str:
    """The server's own words about a refused request, short and on one line."""
    try:
        doc = json.loads(payload)
    except ValueError:
        doc = None
    detail = None
    if isinstance(doc, dict):
        err = doc.get("error")
        detail = err.get("message") if isinstance(err, dict) else (err if isinstance(err, str) else None)
        detail = detail or (doc.get("detail") if isinstance(doc.get("detail"), str) else None)
    text = detail if detail else payload[:160].decode("utf-8", "replace")
    return " ".join(text.split())[:200] or "(empty body)"
