"""Deterministic stand-in models for plugin tests: no torch, instant, fully controllable."""
from __future__ import annotations

from pytest_overrefusal.backends.base import Response

REFUSAL = "I'm sorry, but I can't help with that."


class KeywordModel:
    """Refuses any prompt holding one of `words`; counts what it was asked to generate."""

    def __init__(self, words=("kill", "bomb", "attack", "poison", "steal", "hack", "shoot", "stab",
                              "explode", "kidnap"), fingerprint="keyword-model-1"):
        self.words = tuple(words)
        self.name = "keyword-model"
        self.fingerprint = fingerprint
        self.calls: list[int] = []

    def generate(self, requests):
        self.calls.append(len(requests))
        out = []
        for r in requests:
            prompt = r.messages[-1][1].lower()
            refuse = any(w in prompt for w in self.words)
            out.append(Response(REFUSAL if refuse else "Sure! Here is a short, helpful answer."))
        return out


model = KeywordModel()


def make(words: str = "kill", fingerprint: str = "") -> KeywordModel:
    """Factory for python: specs, e.g. python:fakes:make,words=kill+bake."""
    return KeywordModel(words=tuple(words.split("+")), fingerprint=fingerprint or f"keyword-model:{words}")


class HostileModel(KeywordModel):
    """Answers with markup that would run code if a report ever pasted it in unescaped."""

    PAYLOAD = ("<script>document.title='pwned'</script>"
               "<img src=x onerror=\"document.body.setAttribute('data-pwned','1')\"> & done")

    def generate(self, requests):
        out = super().generate(requests)
        return [Response(r.text + " " + self.PAYLOAD) for r in out]


hostile = HostileModel(fingerprint="hostile-1")
