"""Misbehaving `python:` models (a user's own object): wrong counts, wrong types, exceptions, bad streams.
Spec: `python:fuzz.models:make,behaviour=NAME`; `BEHAVIOURS` maps each name to whether a run may still succeed."""
from __future__ import annotations

from pytest_overrefusal.backends.base import Response

import fakes

# name -> True (a correct run), False (a clean error naming the model or generate()), None (either)
BEHAVIOURS = {
    "good": True, "fewer": False, "more": False, "none": False, "strings": False, "text-int": False,
    "text-none": False, "raises": False, "raises-empty": False, "system-exit": None, "finish-odd": None,
    "tuple": None, "generator": None, "stream-out-of-range": False, "stream-short": False, "stream-twice": False,
    "stream-good": True, "fingerprint-int": None, "no-name": True, "answers-dict": False,
}


class FuzzModel:
    def __init__(self, behaviour: str):
        self.behaviour = behaviour
        self.name = f"fuzz-model-{behaviour}"
        self.fingerprint = 5 if behaviour == "fingerprint-int" else f"fuzz-model:{behaviour}"
        if behaviour.startswith("stream-"):
            self.generate_stream = self._stream

    def _answer(self, request) -> Response:
        return Response(fakes.REFUSAL if any(w in request.messages[-1][1].lower() for w in fakes.model.words)
                        else "Sure! Here is a short, helpful answer.")

    def generate(self, requests):
        good = [self._answer(r) for r in requests]
        b = self.behaviour
        if b == "fewer":
            return good[:-1]
        if b == "more":
            return good + good[:1]
        if b == "none":
            return None
        if b == "strings":
            return [r.text for r in good]
        if b == "text-int":
            return [Response(5) for _ in good]  # type: ignore[arg-type]
        if b == "text-none":
            return [Response(None) for _ in good]  # type: ignore[arg-type]
        if b == "raises":
            raise RuntimeError("the fuzz model exploded")
        if b == "raises-empty":
            raise ValueError()
        if b == "system-exit":
            raise SystemExit(3)
        if b == "finish-odd":
            return [Response(r.text, finish_reason="banana") for r in good]  # type: ignore[arg-type]
        if b == "tuple":
            return tuple(good)
        if b == "generator":
            return (r for r in good)
        if b == "answers-dict":
            return {i: r for i, r in enumerate(good)}
        return good

    def _stream(self, requests):
        good = [self._answer(r) for r in requests]
        if self.behaviour == "stream-out-of-range":
            yield len(good) + 3, good[0]
        elif self.behaviour == "stream-short":
            yield from list(enumerate(good))[:-1]
        elif self.behaviour == "stream-twice":
            yield 0, good[0]
            yield from enumerate(good)
        else:
            yield from reversed(list(enumerate(good)))


class _Nameless(FuzzModel):
    def __init__(self):
        super().__init__("no-name")
        del self.name


def make(behaviour: str = "good"):
    return _Nameless() if behaviour == "no-name" else FuzzModel(behaviour)
