"""Loopback HTTP helpers for the `openai:` backend tests: a tiny fake chat-completions server and a proxy that
injects faults (429 + Retry-After, 500, dropped connections, slow answers) in front of any server.

Both are stdlib `ThreadingHTTPServer`s on 127.0.0.1 with a free port, speak HTTP/1.1 keep-alive, count what they
did, and run in a daemon thread until `close()`.
"""
from __future__ import annotations

import http.client
import json
import random
import socket
import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Callable

REFUSAL = "I'm sorry, but I can't help with that."
KEYWORDS = ("kill", "attack", "bomb", "steal", "poison", "hack", "shoot", "stab", "explode", "kidnap")
FAULT_KINDS = ("429", "500", "drop", "slow")


def keyword_answer(prompt: str) -> str:
    """The toy model's behaviour: refuse on a violent keyword, otherwise the helpful template."""
    return REFUSAL if any(k in prompt.lower() for k in KEYWORDS) else "Sure! Here is a short, helpful answer."


def completion(text: str, model: str = "fake", finish_reason: str = "stop") -> dict:
    return {"id": "x", "object": "chat.completion", "model": model,
            "choices": [{"index": 0, "finish_reason": finish_reason,
                         "message": {"role": "assistant", "content": text}}],
            "usage": {"prompt_tokens": 5, "completion_tokens": len(text.split())}}


class _Loopback(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, handler):
        super().__init__(("127.0.0.1", 0), handler)
        self.lock = threading.Lock()
        self.counts: Counter[str] = Counter()
        self._thread = threading.Thread(target=self.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()

    @property
    def port(self) -> int:
        return self.server_address[1]

    def url(self, path: str = "/v1") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def handle_error(self, request, client_address) -> None:
        """A client that hung up mid-answer (a killed run, a timed-out request) is counted, not printed."""
        self.count("client_gone")

    def count(self, what: str) -> None:
        with self.lock:
            self.counts[what] += 1

    def close(self) -> None:
        self.shutdown()
        self.server_close()


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, like real servers

    def log_message(self, *args) -> None:  # the tests read counters, not access logs
        pass

    def read_body(self) -> bytes:
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def send(self, status: int, body: bytes, headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)


# -- fake server ------------------------------------------------------------------------------------------------
class FakeChatServer(_Loopback):
    """Answers like the toy model. `answer(prompt, n)` may override the n-th (0-based) answer with
    (status, body bytes, headers), to play a misbehaving server; `key` demands `Authorization: Bearer key`."""

    def __init__(self, delay: float = 0.0, key: str | None = None,
                 answer: Callable[[str, int], tuple[int, bytes, dict]] | None = None):
        self.delay, self.key, self.answer = delay, key, answer
        self.prompts: list[str] = []  # every prompt answered with a completion, in order
        self.seen_auth: list[str | None] = []
        self.in_flight = self.max_in_flight = 0
        super().__init__(_FakeHandler)


class _FakeHandler(_Handler):
    server: FakeChatServer

    def do_GET(self) -> None:
        self.send(200, b'{"status": "ok"}')

    def do_POST(self) -> None:
        srv = self.server
        doc = json.loads(self.read_body())
        prompt = doc["messages"][-1]["content"]
        srv.seen_auth.append(self.headers.get("Authorization"))
        if srv.key is not None and self.headers.get("Authorization") != f"Bearer {srv.key}":
            return self.send(401, b'{"error": {"message": "Incorrect API key provided"}}')
        with srv.lock:
            n = srv.counts["requests"]
            srv.counts["requests"] += 1
            srv.in_flight += 1
            srv.max_in_flight = max(srv.max_in_flight, srv.in_flight)
        try:
            if srv.delay:
                time.sleep(srv.delay)
            if srv.answer is not None:
                status, body, headers = srv.answer(prompt, n)
                if status != 200:
                    return self.send(status, body, headers)
            else:
                body, headers = json.dumps(completion(keyword_answer(prompt), doc.get("model", "fake"))).encode(), {}
            with srv.lock:
                srv.prompts.append(prompt)
        finally:
            with srv.lock:
                srv.in_flight -= 1
        self.send(200, body, headers)


# -- fault-injecting proxy -----------------------------------------------------------------------------------------
class FaultProxy(_Loopback):
    """Forwards to `upstream` (host, port); of every block of 20 requests, round(rate * 20) fail, their kinds taking
    turns through `kinds` and their places in the block drawn by a seeded RNG. So the fault share is exact and
    every kind occurs, while which request fails still varies.

    429 carries `Retry-After: retry_after`; `drop` reads the request and closes the socket without a word; `slow`
    waits `slow_seconds` before forwarding (longer than the client's timeout turns it into a timeout)."""

    BLOCK = 20

    def __init__(self, upstream: tuple[str, int], rate: float = 0.3, kinds: tuple[str, ...] = FAULT_KINDS,
                 seed: int = 0, retry_after: str = "1", slow_seconds: float = 2.0):
        self.upstream, self.rate, self.kinds = upstream, rate, kinds
        self.retry_after, self.slow_seconds = retry_after, slow_seconds
        self._rng = random.Random(seed)
        self._plan: list[str | None] = []
        self._faults_planned = 0
        super().__init__(_ProxyHandler)

    def next_fault(self) -> str | None:
        with self.lock:
            if not self._plan:
                n_faults = round(self.rate * self.BLOCK)
                block: list[str | None] = [None] * self.BLOCK
                for slot, n in zip(self._rng.sample(range(self.BLOCK), n_faults), range(n_faults)):
                    block[slot] = self.kinds[(self._faults_planned + n) % len(self.kinds)]
                self._faults_planned += n_faults
                self._plan = block
            self.counts["requests"] += 1
            fault = self._plan.pop(0)
            if fault:
                self.counts[fault] += 1
            return fault

    @property
    def faults(self) -> int:
        return sum(self.counts[k] for k in self.kinds)


class _ProxyHandler(_Handler):
    server: FaultProxy

    def do_GET(self) -> None:
        self._forward("GET", b"")

    def do_POST(self) -> None:
        body = self.read_body()
        fault = self.server.next_fault()
        if fault == "429":
            return self.send(429, b'{"error": {"message": "rate limited"}}', {"Retry-After": self.server.retry_after})
        if fault == "500":
            return self.send(500, b'{"error": {"message": "internal error"}}')
        if fault == "drop":
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)
            return
        if fault == "slow":
            time.sleep(self.server.slow_seconds)
        self._forward("POST", body)

    def _forward(self, method: str, body: bytes) -> None:
        conn = http.client.HTTPConnection(*self.server.upstream, timeout=120)
        try:
            conn.request(method, self.path, body=body or None, headers={"Content-Type": "application/json"})
            answer = conn.getresponse()
            payload = answer.read()
            status = answer.status
        finally:
            conn.close()
        try:
            self.send(status, payload)
            self.server.count("forwarded")
        except OSError:  # the client gave up (its timeout) while we waited
            self.server.count("forwarded_to_gone_client")

