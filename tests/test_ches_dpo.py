"""Single-pair DPO with plain SGD on the toy Llama: CHES predicts likelihood displacement (methods.md 4.4).
Also the filtered-DPO plumbing. The dataset-level filtered-vs-unfiltered benefit did not reproduce at this scale,
so nothing here asserts it."""
from __future__ import annotations

import copy
import json

import pytest

from mitigations.ches import Pair, Selection, score_pairs
from mitigations.dpo import (DpoError, FilterReport, dpo_loss, filtered_dpo, select_pairs, sequence_logps,
                             single_pair_sgd, train_for_loop)

torch = pytest.importorskip("torch")

REFUSAL = "I'm sorry, but I can't help with that."
BAKE, KILL = "How do I bake a cake?", "How do I kill a Python process?"


def helpful(verb: str) -> str:
    return f"Sure! Here is how to {verb} it: plan first, go step by step, and check your work."


@pytest.fixture(scope="module")
def toy():
    from pytest_overrefusal.backends.toy_model import load_toy_model, toy_model_dir

    torch.set_num_threads(1)
    return load_toy_model(toy_model_dir())


def test_dpo_loss_is_log2_at_the_reference_and_falls_with_the_margin():
    zero = torch.zeros(3)
    assert float(dpo_loss(zero, zero, zero, zero)) == pytest.approx(0.693147, abs=1e-6)
    better = dpo_loss(torch.tensor([1.0]), torch.tensor([-1.0]), torch.zeros(1), torch.zeros(1), beta=0.5)
    assert float(better) == pytest.approx(-torch.nn.functional.logsigmoid(torch.tensor(1.0)).item())


def test_sequence_logps_match_the_backend_teacher_forced_sum(toy):
    from pytest_overrefusal.backends.base import ChatRequest
    from pytest_overrefusal.backends.registry import load_backend

    model, tokenizer = toy
    with torch.no_grad():
        ours = sequence_logps(model, tokenizer, [KILL, BAKE], [REFUSAL, helpful("bake")])
    backend = load_backend("toy")
    theirs = backend.logprobs([ChatRequest.user(KILL), ChatRequest.user(BAKE)], [REFUSAL, helpful("bake")])
    assert ours.tolist() == pytest.approx(theirs, abs=1e-4)


def test_top_ches_pair_displaces_the_chosen_reply_and_the_lowest_lifts_it(toy):
    model, tokenizer = toy
    pairs = [
        Pair(KILL, helpful("kill"), helpful("kill") + " " + helpful("kill")),  # constructed: y- repeats y+
        Pair(BAKE, REFUSAL, REFUSAL + " I'm sorry, but I can't."),  # constructed: y- extends y+
        Pair(KILL, helpful("kill"), REFUSAL),  # compliance vs refusal
        Pair(BAKE, REFUSAL, helpful("bake")),  # refusal vs compliance
    ]
    scores = score_pairs(model, tokenizer, pairs)
    # lr 0.05: every effect is >= 4 nats (at 0.01 the second pair moves only -0.17, too close to noise)
    changes = [single_pair_sgd(copy.deepcopy(model), tokenizer, p, steps=30, lr=0.05, beta=0.1).chosen_change
               for p in pairs]
    for key in ("ches", "ln_ches"):
        values = [getattr(s, key) for s in scores]
        top, low = values.index(max(values)), values.index(min(values))
        assert top in (0, 1) and low in (2, 3)
        assert changes[top] < -1.0, (key, changes)
        assert changes[low] > 1.0, (key, changes)


def test_filtered_dpo_keeps_the_lowest_pairs_and_saves_a_model(toy, tmp_path):
    from pytest_overrefusal.backends.toy_model import toy_model_dir

    pairs = [Pair(KILL, REFUSAL, helpful("kill")), Pair(BAKE, helpful("bake"), REFUSAL),
             Pair(BAKE, REFUSAL, REFUSAL + " " + REFUSAL), Pair(KILL, helpful("kill"), helpful("stop"))]
    out = filtered_dpo(toy_model_dir(), pairs, tmp_path / "out", selection=Selection(keep=0.5),
                       trainer="minimal", lr=1e-3, batch_size=2, per_side=False)
    report = json.loads((out / "ches_filter.json").read_text())
    assert report["total"] == 4 and report["kept"] == 2
    lowest = sorted(s.ln_ches for s in score_pairs(*toy, pairs))
    assert report["max_kept_ln_ches"] == pytest.approx(lowest[1], rel=1e-6)
    trained = type(toy[0]).from_pretrained(out)
    changed = any(not torch.equal(a, b) for a, b in zip(trained.parameters(), toy[0].parameters()))
    assert changed


def test_the_filter_report_counts_each_side_and_says_when_one_is_gone(toy):
    pairs = [Pair(KILL, REFUSAL, helpful("kill")), Pair(BAKE, helpful("bake"), REFUSAL),
             Pair(KILL, REFUSAL, helpful("stab")), Pair(BAKE, helpful("mix"), "I cannot help with that.")]
    kept, report = select_pairs(*toy, pairs, Selection(keep=1.0))
    assert (report.refusing_total, report.refusing_kept, report.kept) == (2, 2, 4)
    assert report.as_dict()["chosen_complies"] == {"total": 2, "kept": 2}
    assert "none whose" not in report.summary()
    one_sided = FilterReport(total=600, kept=300, threshold=-1.0, refusing_total=360, refusing_kept=300)
    assert one_sided.summary() == (
        "CHES filter kept 300 of 600 pairs: 300 of 360 whose chosen answer refuses, 0 of 240 whose chosen answer "
        "complies; none whose chosen answer complies is left, so training cannot teach that")


def test_the_filter_keeps_its_share_of_each_side_unless_told_to_rank_all_pairs_together(toy):
    """Templated answers of one side score alike, so one ranking over a mixed set keeps mostly one side (on the
    keyword SmolLM2: 268 of 360 refusing-chosen pairs, 32 of 240 complying). By default each side is ranked alone."""
    refusing = [Pair(KILL, REFUSAL, helpful(v)) for v in ("kill", "stab", "shoot", "poison")]
    complying = [Pair(BAKE, helpful(v), REFUSAL) for v in ("bake", "mix")]
    pairs = refusing + complying
    scores = [s.ln_ches for s in score_pairs(*toy, pairs)]
    lowest = {side: sorted(range(*span), key=lambda i: scores[i])
              for side, span in (("refuses", (0, 4)), ("complies", (4, 6)))}
    for keep in (0.5, 3):
        kept, report = select_pairs(*toy, pairs, Selection(keep=keep))
        assert kept == [pairs[i] for i in sorted(lowest["refuses"][:2] + lowest["complies"][:1])]
        assert (report.kept, report.refusing_kept) == (3, 2)
    together, _ = select_pairs(*toy, pairs, Selection(keep=0.5), per_side=False)
    assert together == [pairs[i] for i in sorted(sorted(range(6), key=lambda i: scores[i])[:3])]
    # a count too small to split still keeps one pair of each side
    assert len(select_pairs(*toy, pairs, Selection(keep=1))[0]) == 2


def test_train_for_loop_returns_an_hf_spec(tmp_path):
    data = tmp_path / "pairs.jsonl"
    data.write_text("".join(json.dumps({"prompt": KILL, "chosen": helpful("kill"), "rejected": r}) + "\n"
                            for r in (REFUSAL, "I'm sorry.", "No.")), encoding="utf-8")
    spec = train_for_loop("toy", data, tmp_path / "m", {"keep": "2", "trainer": "minimal", "lr": "1e-4"})
    assert spec == f"hf:{tmp_path / 'm'}"
    assert json.loads((tmp_path / "m" / "ches_filter.json").read_text())["kept"] == 2


def test_train_for_loop_rejects_unknown_options(tmp_path):
    with pytest.raises(DpoError, match="unknown option.*colour"):
        train_for_loop("toy", tmp_path / "x.jsonl", tmp_path / "m", {"colour": "red"})


@pytest.mark.trl
def test_filtered_dpo_through_trl_trains_only_the_kept_pairs(toy, tmp_path):
    from pytest_overrefusal.backends.toy_model import toy_model_dir

    pairs = [Pair(KILL, REFUSAL, helpful("kill")), Pair(BAKE, helpful("bake"), REFUSAL),
             Pair(BAKE, REFUSAL, REFUSAL + " " + REFUSAL), Pair(KILL, helpful("kill"), helpful("stop"))]
    out = filtered_dpo(toy_model_dir(), pairs, tmp_path / "out", selection=Selection(keep=2), trainer="trl",
                       lr=1e-3, epochs=2, batch_size=1)  # 4 steps: train_dpo's warm-up makes the first one lr 0
    assert json.loads((out / "ches_filter.json").read_text())["kept"] == 2
    trained = type(toy[0]).from_pretrained(out)
    assert any(not torch.equal(a, b) for a, b in zip(trained.parameters(), toy[0].parameters()))


def test_train_for_loop_rejects_a_flag_that_is_not_true_or_false(tmp_path):
    with pytest.raises(DpoError, match=r"dpo-ches option per_side='sometimes': use true or false"):
        train_for_loop("toy", tmp_path / "x.jsonl", tmp_path / "m", {"per_side": "sometimes"})
