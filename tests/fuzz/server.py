"""A scripted chat-completions server on 127.0.0.1 and the replies it may give: good completions, 4xx/5xx, bad
JSON, wrong shapes, a missing or lying Content-Length, a big body, a slow answer. Everything is bounded: bodies of
at most 1 MB, delays of at most 1.5 s, and the client runs with a 1 s timeout and a 3 s retry budget."""
from __future__ import annotations

import json
import socket
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from hypothesis import strategies as st

from fault_proxy import completion, keyword_answer

from .contract import Shown

RETRYABLE = {408, 409, 425, 429} | set(range(500, 600))
CLIENT = "concurrency=1,timeout=1,max_retries={retries},retry_budget=3,backoff=0.01,max_backoff=0.05"


@dataclass(frozen=True)
class Reply(Shown):
    """One answer. `body=None` means a good completion for the prompt asked. `framing`: `exact` Content-Length,
    `none` (no length, connection closed after the body), `long` (announces more than it sends, then closes),
    `drop` (close without a word). `kind` is the oracle: good, retry (the client must try again), fatal (the run
    must stop with one line naming the server), odd (either is acceptable), any (an empty answer whose verdict the
    judge decides: any clean ending)."""

    status: int = 200
    body: bytes | None = None
    framing: str = "exact"
    delay: float = 0.0
    headers: tuple[tuple[str, str], ...] = ()
    kind: str = "good"

    def __repr__(self) -> str:
        body = "completion" if self.body is None else repr(self.body[:80]) + ("..." if len(self.body) > 80 else "")
        return f"Reply({self.status}, {body}, {self.framing}, delay={self.delay}, {dict(self.headers)}, {self.kind})"


GOOD = Reply()
json_values = st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=8),
                           lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner,
                                                                                     max_size=3), max_leaves=8)
_SHAPES = [b"", b"<html>oops</html>", b"{", b'{"choices": []}', b'{"choices": [{}]}', b'{"choices": null}',
           b'{"choices": [{"message": {"content": 5}}]}', b'{"choices": [{"message": null}]}',
           b'{"choices": [{"message": {"role": "assistant"}}]}', b'{"error": {"message": "overloaded"}}',
           b"\xff\xfe\x00", b'"just a string"', b"[1, 2, 3]", b'{"choices": "x"}']


@st.composite
def replies(draw) -> Reply:
    how = draw(st.sampled_from(["good", "good", "status", "shape", "json", "framing", "slow", "big", "retry-after"]))
    if how == "good":
        return GOOD
    if how == "status":
        status = draw(st.sampled_from([400, 401, 403, 404, 408, 409, 422, 425, 429, 500, 502, 503, 504, 301, 204]))
        body = draw(st.sampled_from([b'{"error": {"message": "nope"}}', b"", b"<h1>down</h1>",
                                     b'{"detail": "model m not found"}', b"\x00\x01"]))
        kind = "retry" if status in RETRYABLE else "odd" if status in (204, 301) else "fatal"
        return Reply(status, body, kind=kind)
    if how == "shape":
        body = draw(st.sampled_from(_SHAPES))
        # a message without content may be a filtered answer (content_filter): an empty reply is fine there
        return Reply(200, body, kind="any" if body == b'{"choices": [{"message": {"role": "assistant"}}]}' else "fatal")
    if how == "json":
        value = draw(json_values)
        return Reply(200, json.dumps(value).encode(), kind="fatal")
    if how == "framing":
        framing = draw(st.sampled_from(["none", "long", "drop"]))
        return Reply(200, None, framing=framing, kind="odd" if framing == "none" else "retry")
    if how == "slow":
        return Reply(200, None, delay=draw(st.sampled_from([0.2, 1.5])), kind="odd")
    if how == "big":
        pad = draw(st.sampled_from([10_000, 1_000_000]))
        return Reply(200, b" " * pad, kind="odd")  # body None is filled in; padding is prepended (valid JSON)
    value = draw(st.sampled_from(["0", "soon", "-1", "1e9", "99999999999999999999", "Wed, 21 Oct 2015 07:28:00 GMT",
                                  "\u00e9"]))
    return Reply(429, b'{"error": {"message": "slow down"}}', headers=(("Retry-After", value),), kind="odd")


class ScriptedServer(ThreadingHTTPServer):
    """Serves `script[n]` for the n-th POST (0-based, counted across retries), a good completion after that."""

    daemon_threads = True

    def __init__(self):
        super().__init__(("127.0.0.1", 0), _Handler)
        self.lock = threading.Lock()
        self.script: list[Reply] = []
        self.served = 0
        threading.Thread(target=self.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()

    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/v1"

    def play(self, script: list[Reply]) -> None:
        with self.lock:
            self.script, self.served = list(script), 0

    def next_reply(self) -> Reply:
        with self.lock:
            n, self.served = self.served, self.served + 1
            return self.script[n] if n < len(self.script) else GOOD

    def handle_error(self, request, client_address) -> None:  # a client that gave up mid-answer: not news
        pass

    def close(self) -> None:
        self.shutdown()
        self.server_close()


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: ScriptedServer

    def log_message(self, *args) -> None:
        pass

    def do_POST(self) -> None:
        doc = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)) or b"{}")
        reply = self.server.next_reply()
        if reply.delay:
            time.sleep(reply.delay)
        if reply.framing == "drop":
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)
            return
        body = reply.body
        good = json.dumps(completion(keyword_answer(doc["messages"][-1]["content"]))).encode()
        if body is None:
            body = good
        elif reply.status == 200 and body.strip() == b"" and len(body) >= 10_000:
            body = body + good
        self.send_response(reply.status)
        self.send_header("Content-Type", "application/json")
        for name, value in reply.headers:
            self.send_header(name, value)
        if reply.framing == "exact":
            self.send_header("Content-Length", str(len(body)))
        elif reply.framing == "long":
            self.send_header("Content-Length", str(len(body) + 100))
        self.close_connection = reply.framing != "exact"
        self.end_headers()
        self.wfile.write(body)


def outcome_of(script: list[Reply], n_asked: int, retries: int) -> str:
    """What the client must end in when it asks `n_asked` prompts one at a time: good, fatal, odd or any."""
    if any(reply.kind == "any" for reply in script):
        return "any"
    at, odd = 0, False
    for _ in range(n_asked):
        tries = 0
        while True:
            reply = script[at] if at < len(script) else GOOD
            at += 1
            if reply.kind == "odd":
                odd = True
            if reply.kind in ("good", "odd"):
                break
            if reply.kind == "retry" and tries < retries:
                tries += 1
                continue
            return "odd" if odd else "fatal"
    return "odd" if odd else "good"
