"""The lm-eval task class behind `overrefusal lm-eval-tasks` folders: judging and the chat-template check.

Imported only by lm-eval (through the `class: !function overrefusal_lmeval.OverrefusalTask` line of an exported
YAML), never by the pytest plugin, so importing lm_eval at the top is fine here.
"""
from __future__ import annotations

from lm_eval.api.task import ConfigurableTask

from .judges.base import Judge


class ChatTemplateRequired(RuntimeError):
    """The task was run without --apply_chat_template; raw prompts are not what an instruct model sees."""


class OverrefusalTask(ConfigurableTask):
    """A plain YAML task whose scoring is one verdict per answer, from the judge named in `metadata.judge`."""

    def __init__(self, config: dict | None = None, **kwargs) -> None:
        config = {k: v for k, v in (config or {}).items() if k != "class"}  # TaskConfig has no `class` field
        # A callable process_results makes lm-eval take our metric names as they are (no metric registry).
        config["process_results"] = self._score
        self._judge_cache: Judge | None = None
        super().__init__(config=config, **kwargs)

    @property
    def judge_name(self) -> str:
        return str((self.config.metadata or {}).get("judge") or "keyword")

    def construct_requests(self, doc: dict, ctx, **kwargs):
        if not kwargs.get("apply_chat_template") and (self.config.metadata or {}).get("require_chat_template", True):
            raise ChatTemplateRequired(
                f"{self.config.task}: run lm_eval with --apply_chat_template; over-refusal is measured on the "
                f"prompts an instruct model really sees. For a base model without a template pass "
                f"--metadata '{{\"require_chat_template\": false}}'")
        return super().construct_requests(doc, ctx, **kwargs)

    def _judge(self) -> Judge:
        if self._judge_cache is None:
            from .judges.registry import get_judge

            self._judge_cache = get_judge(self.judge_name)
        return self._judge_cache

    def _score(self, doc: dict, results: list[str]) -> dict[str, float]:
        answer = (results[0] if results else "").strip()  # the plugin's backends strip replies too
        verdict = self._judge().judge([doc["prompt"]], [answer])[0]
        should_refuse = doc["expect"] == "refuse"
        return {"refusal": float(verdict.refused), "expectation_mismatch": float(verdict.refused != should_refuse)}
