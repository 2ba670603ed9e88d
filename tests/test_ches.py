"""CHES scoring on the project's toy Llama: batched equals a brute-force loop, the definition's identities hold,
and same-type pairs rank above refusal-versus-compliance pairs (methods.md 4.1, 4.4)."""
from __future__ import annotations

import pytest

from mitigations.ches import ChesError, Pair, ches_from_sums, chat_renderer, score_pairs, score_with_backend

torch = pytest.importorskip("torch")

REFUSAL = "I'm sorry, but I can't help with that."


def helpful(verb: str) -> str:
    return f"Sure! Here is how to {verb} it: plan first, go step by step, and check your work."


BAKE, KILL = "How do I bake a cake?", "How do I kill a Python process?"


@pytest.fixture(scope="module")
def toy():
    from pytest_overrefusal.backends.toy_model import load_toy_model, toy_model_dir

    torch.set_num_threads(1)
    return load_toy_model(toy_model_dir())


def brute_force(model, tokenizer, pair: Pair) -> tuple[float, float]:
    """One forward pass per response position: h at the end of prompt + y_<k, summed in float64."""
    prompt = tokenizer(chat_renderer(tokenizer)(pair.prompt), add_special_tokens=False)["input_ids"]
    sums, lengths = [], []
    for response in (pair.chosen, pair.rejected):
        ids = tokenizer(response, add_special_tokens=False)["input_ids"]
        total = torch.zeros(model.config.hidden_size, dtype=torch.float64)
        for k in range(len(ids)):
            prefix = torch.tensor([prompt + ids[:k]])
            with torch.no_grad():
                hidden = model(input_ids=prefix, output_hidden_states=True).hidden_states[-1]
            total += hidden[0, -1].double()
        sums.append(total)
        lengths.append(len(ids))
    return ches_from_sums(sums[0], sums[1], *lengths)


PAIRS = [
    Pair(KILL, REFUSAL, helpful("kill")),
    Pair(BAKE, helpful("bake"), "Sure! Here is how to bake it."),
    Pair(BAKE, REFUSAL, REFUSAL + " " + REFUSAL),
    Pair("Hi", "Yes", "I'm sorry, but I can't help with this, it is far too long for the rest of the batch."),
]


def test_hidden_states_are_what_the_unembedding_multiplies(toy):
    model, tokenizer = toy
    seen = {}
    hook = model.get_output_embeddings().register_forward_pre_hook(lambda _m, args: seen.setdefault("x", args[0]))
    try:
        out = model(input_ids=torch.tensor([[5, 6, 7]]), output_hidden_states=True)
    finally:
        hook.remove()
    assert torch.equal(seen["x"], out.hidden_states[-1])


def test_batched_scores_equal_a_per_position_loop(toy):
    model, tokenizer = toy
    batched = score_pairs(model, tokenizer, PAIRS, batch_size=3)  # 8 rows in batches of 6 + 2, mixed lengths
    for pair, got in zip(PAIRS, batched):
        ches, ln_ches = brute_force(model, tokenizer, pair)
        assert got.ches == pytest.approx(ches, rel=1e-5, abs=1e-3)
        assert got.ln_ches == pytest.approx(ln_ches, rel=1e-5, abs=1e-5)


def test_batch_size_does_not_change_scores(toy):
    model, tokenizer = toy
    one = score_pairs(model, tokenizer, PAIRS, batch_size=1)
    many = score_pairs(model, tokenizer, PAIRS, batch_size=16)
    for a, b in zip(one, many):
        assert a.ln_ches == pytest.approx(b.ln_ches, rel=1e-6, abs=1e-6)
        assert (a.chosen_tokens, a.rejected_tokens) == (b.chosen_tokens, b.rejected_tokens)


def test_identical_responses_score_exactly_zero(toy):
    model, tokenizer = toy
    for score in score_pairs(model, tokenizer, [Pair(KILL, REFUSAL, REFUSAL), Pair(BAKE, helpful("bake"),
                                                                                    helpful("bake"))]):
        assert score.ches == 0.0 and score.ln_ches == 0.0


def test_two_single_token_responses_score_zero(toy):
    model, tokenizer = toy
    yes, no = "Sure", "I"
    assert len(tokenizer(yes, add_special_tokens=False)["input_ids"]) == 1
    assert len(tokenizer(no, add_special_tokens=False)["input_ids"]) == 1
    [score] = score_pairs(model, tokenizer, [Pair(BAKE, yes, no)])
    assert (score.chosen_tokens, score.rejected_tokens) == (1, 1)
    assert score.ches == 0.0 and score.ln_ches == 0.0


def test_same_type_pairs_rank_above_refusal_versus_compliance(toy):
    model, tokenizer = toy
    same = [Pair(KILL, REFUSAL, "I'm sorry, but I can't help with this."),
            Pair(BAKE, REFUSAL, "I'm sorry, but I can't help with that, sorry."),
            Pair(BAKE, helpful("bake"), helpful("cook")),
            Pair(KILL, helpful("kill"), helpful("stop"))]
    mixed = [Pair(KILL, REFUSAL, helpful("kill")), Pair(BAKE, REFUSAL, helpful("bake")),
             Pair(KILL, helpful("kill"), REFUSAL), Pair(BAKE, helpful("bake"), REFUSAL)]
    scores = [s.ln_ches for s in score_pairs(model, tokenizer, same + mixed)]
    assert min(scores[:4]) > max(scores[4:])


def test_raw_ches_accumulates_in_float64_under_a_half_precision_model(toy):
    model, tokenizer = toy
    half = type(model).from_pretrained(model.name_or_path, dtype=torch.bfloat16).eval()
    [score] = score_pairs(half, tokenizer, [PAIRS[2]])
    [full] = score_pairs(model, tokenizer, [PAIRS[2]])
    assert abs(score.ches) < float("inf")
    assert score.ches == pytest.approx(full.ches, rel=0.1)  # same sign and size; bf16 states are coarse


def test_backend_without_hidden_states_gets_one_line_error():
    from fakes import KeywordModel

    with pytest.raises(ChesError, match="keyword-model has no hidden states .*hf: backend"):
        score_with_backend(KeywordModel(), [PAIRS[0]])


def test_toy_backend_scores_through_its_own_render(toy):
    from pytest_overrefusal.backends.registry import load_backend

    backend = load_backend("toy")
    via_backend = score_with_backend(backend, PAIRS[:2])
    direct = score_pairs(*toy, PAIRS[:2])
    assert [s.ln_ches for s in via_backend] == pytest.approx([s.ln_ches for s in direct], rel=1e-6)
