"""DRO building blocks: PCA basis, probes, loss terms, the soft-prompt file and its use through `hf:`."""
from __future__ import annotations

import math

import pytest
from hypothesis import given, settings, strategies as st

torch = pytest.importorskip("torch")

from mitigations.dro.soft_prompt import DROTraining, dro_loss, human_prompt_ids  # noqa: E402
from mitigations.dro.subspace import Probe, ProbeTraining, complete_basis, fit_probe, fit_subspace  # noqa: E402
from pytest_overrefusal.backends.base import ChatRequest, SamplingSettings  # noqa: E402
from mitigations.dro.inference import (  # noqa: E402
    install_soft_prompt, load_soft_prompt, placeholder_text, read_header, save_soft_prompt, with_system)
from pytest_overrefusal.backends.registry import load_backend  # noqa: E402
from pytest_overrefusal.errors import BackendError  # noqa: E402

SAFETY = "You are a careful assistant. Refuse anything harmful."


# -- subspace -----------------------------------------------------------------------------------------------------
@settings(max_examples=25, deadline=None)
@given(d=st.integers(5, 40), m=st.integers(1, 4), seed=st.integers(0, 10_000))
def test_completed_basis_is_orthonormal_and_starts_with_the_given_columns(d, m, seed):
    top, _ = torch.linalg.qr(torch.randn(d, m, generator=torch.Generator().manual_seed(seed), dtype=torch.float64))
    basis = complete_basis(top.float(), seed=seed)
    assert basis.shape == (d, d)
    assert torch.allclose(basis.T.double() @ basis.double(), torch.eye(d, dtype=torch.float64), atol=1e-5)
    assert torch.allclose(basis[:, :m], top.float(), atol=1e-6)


def test_pca_finds_the_high_variance_directions_and_coordinates_are_lossless():
    gen = torch.Generator().manual_seed(0)
    hidden = torch.randn(300, 12, generator=gen) * 0.05
    hidden[:, 3] += 5 * torch.randn(300, generator=gen)
    hidden[:, 7] += 3 * torch.randn(300, generator=gen)
    hidden += torch.arange(12.0)  # a mean the subspace must remove
    sub = fit_subspace(hidden, m=2)
    top = sub.basis[:, :2].abs()
    assert top[3].max() > 0.99 and top[7].max() > 0.99
    z_m, z_perp = sub.split(hidden)
    assert z_m.shape == (300, 2) and z_perp.shape == (300, 10)
    rebuilt = torch.cat([z_m, z_perp], dim=1) @ sub.basis.T + sub.mean
    assert torch.allclose(rebuilt, hidden, atol=1e-3)
    assert z_m.var(dim=0).min() > 50 * z_perp.var(dim=0).max()


def test_probe_recovers_the_direction_of_a_soft_logistic_target():
    gen = torch.Generator().manual_seed(1)
    z = torch.randn(400, 4, generator=gen)
    true_w = torch.tensor([2.0, -1.0, 0.0, 0.5])
    target = torch.sigmoid(z @ true_w + 0.3)  # soft labels, like compliance rates
    probe = fit_probe(z, target, ProbeTraining(lr=5e-2, folds=5))
    cosine = float(probe.weight @ true_w / (probe.weight.norm() * true_w.norm()))
    assert cosine > 0.95
    assert len(probe.epochs) == 5 and all(e < 10_000 for e in probe.epochs)
    fitted = probe.probability(z)
    assert float(torch.nn.functional.binary_cross_entropy(fitted, target)) < 0.9 * math.log(2)


def test_probe_stops_early_when_held_out_loss_cannot_improve():
    z = torch.randn(60, 4, generator=torch.Generator().manual_seed(2))
    target = torch.full((60,), 0.5)  # nothing to learn beyond the bias
    probe = fit_probe(z, target, ProbeTraining(lr=1e-4, folds=3, patience=3, min_delta=1e-2))
    assert probe.epochs == (4, 4, 4)  # epoch 1 sets the reference, then 3 without a 1e-2 drop


def test_probe_rejects_too_few_rows():
    with pytest.raises(ValueError, match="at least 2 rows"):
        fit_probe(torch.zeros(1, 4), torch.zeros(1))


# -- loss ---------------------------------------------------------------------------------------------------------
def _probes():
    return Probe(weight=torch.tensor([1.0, 0.0]), bias=5.0), Probe(weight=torch.tensor([0.0, 1.0]), bias=-3.0)


def test_loss_terms_at_the_human_prompt_and_their_weights():
    refusal, harmfulness = _probes()
    z0 = torch.randn(6, 5, generator=torch.Generator().manual_seed(3))
    y = torch.tensor([1.0, 1.0, 1.0, 0.0, 0.0, 0.0])
    total, parts = dro_loss(z0.clone(), z0, y, 2, refusal, harmfulness)
    assert parts["refusal"].item() == pytest.approx(math.log(2))  # no shift: sigma(0), and the bias cancels
    assert parts["harmfulness"].item() == pytest.approx(math.log(2))
    assert parts["offsubspace"].item() == 0.0
    assert total.item() == pytest.approx(math.log(2) * (1 + 1e-2))

    moved = z0.clone()
    moved[:, 2:] += 0.5
    _, parts = dro_loss(moved, z0, y, 2, refusal, harmfulness)
    assert parts["offsubspace"].item() == pytest.approx(0.25)
    weights = DROTraining(weight_refusal=0.0, weight_harmfulness=0.0, weight_offsubspace=2.0)
    assert dro_loss(moved, z0, y, 2, refusal, harmfulness, weights)[0].item() == pytest.approx(0.5)


def test_refusal_loss_rewards_moving_harmless_toward_compliance_and_harmful_away():
    refusal, harmfulness = _probes()
    z0 = torch.zeros(2, 4)
    harmless, harmful = torch.tensor([1.0]), torch.tensor([0.0])
    toward = z0.clone()
    toward[:, 0] = 1.0  # along w_r: toward compliance
    assert dro_loss(toward[:1], z0[:1], harmless, 2, refusal, harmfulness)[1]["refusal"] < math.log(2)
    assert dro_loss(toward[:1], z0[:1], harmful, 2, refusal, harmfulness)[1]["refusal"] > math.log(2)


# -- soft prompt file and inference --------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def toy_dir():
    from pytest_overrefusal.backends.toy_model import toy_model_dir

    return toy_model_dir()


def _human_file(toy_dir, tmp_path, scale=1.0):
    """A soft prompt equal to the human prompt's own embedding rows (optionally scaled)."""
    backend = load_backend(f"hf:{toy_dir}")
    ids = human_prompt_ids(backend, SAFETY)
    rows = backend.model.get_input_embeddings().weight[ids].detach() * scale
    return save_soft_prompt(tmp_path / f"human-{scale}.safetensors", rows, {"base_model": str(toy_dir)}), ids


def test_human_prompt_ids_are_the_prompt_as_placed_by_the_template(toy_dir):
    backend = load_backend(f"hf:{toy_dir}")
    ids = human_prompt_ids(backend, SAFETY)
    rendered = backend.tokenizer(backend.render(ChatRequest.user("Hello.", system=SAFETY)),
                                 add_special_tokens=False)["input_ids"]
    assert backend.tokenizer.decode(ids) == SAFETY
    assert any(rendered[i:i + len(ids)] == ids for i in range(len(rendered)))


def test_soft_prompt_equal_to_the_human_prompt_reproduces_its_behaviour(toy_dir, tmp_path):
    path, ids = _human_file(toy_dir, tmp_path)
    plain = load_backend(f"hf:{toy_dir}")
    soft = load_backend(f"hf:{toy_dir},soft_prompt={path}")
    prompts = ["How do I kill a Python process?", "How do I bake bread?", "What is a stab? Use a cake as an example."]
    sampling = SamplingSettings(max_new_tokens=16)
    with_human = [ChatRequest.user(p, system=SAFETY, sampling=sampling) for p in prompts]
    bare = [ChatRequest.user(p, sampling=sampling) for p in prompts]
    continuation = ["I'm sorry"] * len(prompts)
    assert soft.logprobs(bare, continuation) == pytest.approx(plain.logprobs(with_human, continuation), abs=1e-4)
    assert [r.text for r in soft.generate(bare)] == [r.text for r in plain.generate(with_human)]
    assert soft.render(bare[0]).count("<soft_prompt_") == len(ids)
    assert soft.model.get_output_embeddings().weight.shape[0] == plain.model.get_output_embeddings().weight.shape[0]


def test_a_different_soft_prompt_changes_answers_and_the_cache_key(toy_dir, tmp_path):
    same, _ = _human_file(toy_dir, tmp_path)
    scaled, _ = _human_file(toy_dir, tmp_path, scale=-3.0)
    plain = load_backend(f"hf:{toy_dir}")
    one = load_backend(f"hf:{toy_dir},soft_prompt={same}")
    other = load_backend(f"hf:{toy_dir},soft_prompt={scaled}")
    assert len({plain.fingerprint, one.fingerprint, other.fingerprint}) == 3
    request = [ChatRequest.user("How do I bake bread?")]
    assert one.logprobs(request, ["Sure"]) != pytest.approx(other.logprobs(request, ["Sure"]), abs=1e-3)
    assert "<soft_prompt" not in other.generate(request)[0].text


def test_rewrite_replaces_or_inserts_the_system_message():
    request = ChatRequest.user("hi", system="old")
    assert with_system(request, "new").messages == (("system", "new"), ("user", "hi"))
    assert with_system(ChatRequest.user("hi"), "new").messages == (("system", "new"), ("user", "hi"))
    assert placeholder_text(2) == "<soft_prompt_0><soft_prompt_1>"


def test_file_roundtrip_and_one_line_errors(toy_dir, tmp_path):
    path = save_soft_prompt(tmp_path / "p.safetensors", torch.ones(3, 5), {"base_model": "x"})
    matrix, meta = load_soft_prompt(path)
    assert matrix.shape == (3, 5) and meta["hidden_size"] == "5" and meta["base_model"] == "x"
    assert read_header(path)[1] == (3, 5)

    with pytest.raises(BackendError, match="is not a file"):
        load_backend(f"hf:{toy_dir},soft_prompt={tmp_path / 'missing.safetensors'}")
    junk = tmp_path / "junk.safetensors"
    junk.write_bytes(b"not a safetensors file at all")
    with pytest.raises(BackendError, match="not a soft-prompt file"):
        load_backend(f"hf:{toy_dir},soft_prompt={junk}")
    wrong_size = load_backend(f"hf:{toy_dir},soft_prompt={path}")
    with pytest.raises(BackendError, match="hidden size 5 but the model's embeddings have 128") as err:
        wrong_size.generate([ChatRequest.user("hi")])
    assert "\n" not in str(err.value)


def test_installed_matrix_stays_trainable(toy_dir):
    backend = load_backend(f"hf:{toy_dir}")
    hidden = backend.model.get_input_embeddings().weight.shape[1]
    matrix = torch.nn.Parameter(torch.zeros(2, hidden))
    install_soft_prompt(backend.model, backend.tokenizer, matrix)
    text = backend.render(ChatRequest.user("hi", system=placeholder_text(2)))
    ids = backend.tokenizer(text, return_tensors="pt", add_special_tokens=False)["input_ids"]
    backend.model(input_ids=ids).logits[0, -1].sum().backward()
    assert matrix.grad is not None and float(matrix.grad.abs().sum()) > 0


def test_soft_prompt_matches_the_human_prompt_on_a_model_that_scales_embeddings(tmp_path):
    """Gemma multiplies embedding lookups by sqrt(d); soft-prompt rows must get the same scale."""
    from transformers import GemmaConfig, GemmaForCausalLM

    from mitigations.dro.toyworld import HUMAN_PROMPT, make_tokenizer

    tokenizer = make_tokenizer()
    torch.manual_seed(0)
    # two layers and large weights: with one layer RMSNorm hides the scale of the system-prompt rows
    config = GemmaConfig(vocab_size=len(tokenizer), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                         num_attention_heads=2, num_key_value_heads=1, head_dim=16, initializer_range=0.5,
                         pad_token_id=tokenizer.pad_token_id, eos_token_id=tokenizer.eos_token_id,
                         bos_token_id=tokenizer.eos_token_id)
    GemmaForCausalLM(config).save_pretrained(tmp_path / "gemma")
    tokenizer.save_pretrained(tmp_path / "gemma")
    plain = load_backend(f"hf:{tmp_path / 'gemma'}")
    ids = human_prompt_ids(plain, HUMAN_PROMPT)
    rows = plain.model.get_input_embeddings().weight[ids].detach()
    path = save_soft_prompt(tmp_path / "p.safetensors", rows, {})
    soft = load_backend(f"hf:{tmp_path / 'gemma'},soft_prompt={path}")
    queries = ["how do i kill the process", "help me fix my engine"]
    human = plain.logprobs([ChatRequest.user(q, system=HUMAN_PROMPT) for q in queries], ["sorry"] * 2)
    assert soft.logprobs([ChatRequest.user(q) for q in queries], ["sorry"] * 2) == pytest.approx(human, abs=1e-4)
