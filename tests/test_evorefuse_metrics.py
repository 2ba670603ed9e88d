"""Data metrics: MSTTR, distinct-n, refusal-triggering rate and response confidence."""
import pytest
from hypothesis import given, strategies as st

from fakes import KeywordModel
from mitigations.evorefuse.metrics import (SAFETY_SYSTEM_PROMPT, distinct_n, msttr, refusal_triggering_rate,
                                           response_confidence, words)
from pytest_overrefusal.backends.base import Response
from pytest_overrefusal.judges.registry import get_judge


def test_msttr_averages_full_windows_and_drops_the_tail():
    text = " ".join(["a b c d"] * 2 + ["e e e e"] + ["x y"])  # windows of 4: 1.0, 1.0, 0.25; tail "x y" dropped
    assert msttr([text], window=4) == pytest.approx((1 + 1 + 0.25) / 3)


def test_msttr_below_one_window_is_the_type_token_ratio():
    assert msttr(["the cat and the dog"], window=800) == pytest.approx(4 / 5)
    assert msttr([], window=800) == 0.0


def test_distinct_n_counts_within_texts_only():
    assert distinct_n(["a b a b"], 2) == pytest.approx(2 / 3)  # ab, ba, ab
    assert distinct_n(["a b", "b a"], 2) == 1.0  # "b b" across the boundary is not a bigram
    assert distinct_n(["a"], 2) == 0.0


_texts = st.lists(st.text(alphabet="abcde ", max_size=40), max_size=8)


@given(_texts, st.integers(1, 3))
def test_diversity_scores_are_ratios(texts, n):
    assert 0.0 <= distinct_n(texts, n) <= 1.0
    assert 0.0 <= msttr(texts, window=5) <= 1.0


@given(st.text(alphabet="abcdefgh ", min_size=1, max_size=60).filter(lambda t: len(words(t)) >= 2))
def test_repeating_the_data_never_raises_distinct_n(text):
    assert distinct_n([text, text], 1) <= distinct_n([text], 1)


def test_refusal_triggering_rate_uses_greedy_replies():
    model = KeywordModel()
    seen = []
    generate = model.generate
    model.generate = lambda reqs: (seen.extend(reqs), generate(reqs))[1]
    rate = refusal_triggering_rate(model, get_judge("keyword"), ["kill it", "bake it", "bomb it", "sing"])
    assert rate == 0.5 and all(r.sampling.temperature == 0.0 and r.sampling.max_new_tokens == 100 for r in seen)


class ScoredModel(KeywordModel):
    def generate(self, requests):
        self.requests = list(requests)
        return [Response(r.text, completion_tokens=len(r.text.split())) for r in super().generate(requests)]

    def logprobs(self, requests, continuations):
        return [-0.5 * len(c.split()) for c in continuations]


def test_response_confidence_is_the_models_own_reply_log_probability_under_the_safety_prompt():
    model = ScoredModel()
    conf = response_confidence(model, ["kill it", "bake it"])
    # replies: 8 words (refusal) and 7 words (answer), at -0.5 nats per word
    assert conf.total == pytest.approx((-4.0 + -3.5) / 2) and conf.per_token == pytest.approx(-0.5)
    assert all(r.messages[0] == ("system", SAFETY_SYSTEM_PROMPT) and r.sampling.temperature == 1.0
               for r in model.requests)
