"""The wire side of `openai:`: HTTP/1.1 over asyncio streams, the retry policy, and reading a chat completion.

Standard library only. `Retryable` failures are worth another attempt, `Fatal` ones would repeat, and
`NeverConnected` means the server was never reached; `openai_chat.py` turns each into its one-line BackendError.
"""
from __future__ import annotations

import asyncio
import email.utils
import json
import random
import ssl
import time
import zlib
from dataclasses import dataclass
from urllib.parse import urlsplit

from .base import Response

MAX_BODY = 64 * 1024 * 1024  # one answer's bytes, however framed; README's openai section documents it
# What the server says about why it stopped -> the engine's three finish reasons. A content filter ended the answer
# on purpose, so it is a complete ("stop") answer whose (possibly empty) text the judge sees as is.
FINISH = {"stop": "stop", "eos": "stop", "end_turn": "stop", "content_filter": "stop", "tool_calls": "stop",
          "function_call": "stop", "length": "length", "max_tokens": "length"}

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
class Retryable(Exception):
    """A failure worth another attempt (the server was busy, broken for a moment, or the connection dropped)."""

    def __init__(self, why: str, retry_after: float | None = None):
        super().__init__(why)
        self.retry_after = retry_after


class Fatal(Exception):
    """A failure another attempt would repeat: bad request, auth, unknown model, an answer that is not a completion."""


class NeverConnected(Exception):
    """The server could not be reached at all (refused, unknown host)."""


@dataclass(frozen=True)
class Endpoint:
    host: str
    port: int
    tls: bool
    path: str  # the chat-completions path, e.g. /v1/chat/completions

    @classmethod
    def from_base_url(cls, base_url: str) -> "Endpoint":
        parts = urlsplit(base_url)
        tls = parts.scheme == "https"
        return cls(host=parts.hostname or "", port=parts.port or (443 if tls else 80), tls=tls,
                   path=(parts.path.rstrip("/") or "") + "/chat/completions")


class Connection:
    """One keep-alive connection; reopened after any failure, since its state is then unknown."""

    def __init__(self, endpoint: Endpoint):
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
                raise NeverConnected(f"cannot connect to {ep.host}:{ep.port} ({exc.strerror or exc})") from None
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
                if total > MAX_BODY:
                    raise Fatal(_too_long("its chunks add up to more"))
                chunks.append((await self.reader.readexactly(size + 2))[:-2])
        if "content-length" in headers:
            length = int(headers["content-length"])
            if length > MAX_BODY:
                raise Fatal(_too_long(f"it announces {length} bytes"))
            return await self.reader.readexactly(length)
        # No length: the body runs to the end of the connection, which may take many reads.
        body = bytearray()
        while True:
            piece = await self.reader.read(min(1 << 20, MAX_BODY + 1 - len(body)))
            if not piece:
                break
            body += piece
            if len(body) > MAX_BODY:
                raise Fatal(_too_long("it runs on past that without ending"))
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
        raise Fatal(f"the answer is encoded as {encoding[:40]!r}, which this client does not read; serve it "
                     f"uncompressed (or gzip)")
    wbits = 47 if "gzip" in encoding else 15  # 47: a gzip or zlib header; deflate servers send zlib
    inflater = zlib.decompressobj(wbits)
    try:
        body = inflater.decompress(payload, MAX_BODY + 1)
    except zlib.error as exc:
        raise Fatal(f"the answer claims {encoding} encoding but does not decompress ({exc})") from None
    if len(body) > MAX_BODY:
        raise Fatal(_too_long("once decompressed"))
    return body


def _too_long(why: str) -> str:
    return (f"the answer is larger than the {MAX_BODY} bytes ({MAX_BODY / 2 ** 20:g} MiB) cap on one chat completion ({why}); is the base URL "
            f"an OpenAI-compatible chat-completions server?")


def parse_completion(payload: bytes) -> Response:
    """One chat.completion JSON document -> Response; anything else is a Fatal naming what was wrong."""
    try:
        doc = json.loads(payload)
    except ValueError:
        raise Fatal(f"the answer is not JSON: {payload[:80]!r}") from None
    choices = doc.get("choices") if isinstance(doc, dict) else None
    if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
        raise Fatal(f"the answer is not a chat completion (no 'choices'): {payload[:80]!r}")
    choice = choices[0]
    message = choice.get("message")
    if not isinstance(message, dict):  # an empty reply must be the server's words, not a missing field read as ""
        raise Fatal(f"the answer is not a chat completion (its first choice has no 'message'): {payload[:80]!r}")
    content = message.get("content")
    if content is not None and not isinstance(content, str):
        raise Fatal(f"the answer's message content is a {type(content).__name__}, not text")
    usage = doc.get("usage") if isinstance(doc.get("usage"), dict) else {}
    return Response(text=content or "", finish_reason=FINISH.get(choice.get("finish_reason"), "stop"),
                    prompt_tokens=_count(usage.get("prompt_tokens")),
                    completion_tokens=_count(usage.get("completion_tokens")))


def _count(value) -> int:
    return value if isinstance(value, int) and value >= 0 else 0


def error_detail(payload: bytes) -> str:
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
