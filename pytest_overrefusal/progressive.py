"""Verdict-aware decoding: generate in rounds of growing token budgets and stop each answer once its judge's
`refused` flag is settled (`--overrefusal-decoding verdict`).

Each round batches only the answers still undecided (suite by suite, longest first, full batches) and continues
them from their exact token ids, so greedy decoding yields the text of one uninterrupted run. A backend that can
stop single answers inside its own call (capability `stop_when`, hf) gets one round and a `stop_when` check instead.
An answer ends on its stop token (`eos`), at the suite's `max_new_tokens` (`length`), or when the judge's flag can
no longer change (`verdict`, finish_reason "verdict"). Complete answers go to the response cache as in `full` mode; every answer's
token ids go to the `partials` table, so a later `full` run or a larger budget continues them.
Only greedy requests are generated this way: a sampled continuation would not be the uninterrupted run's sample.
"""
from __future__ import annotations

from .backends.base import Response, has_capability
from .boundary import model_boundary
from .continuation import Partial, PartialStore, can_continue, partial_key
from .errors import BackendError, JudgeError, OverrefusalError
from .judges.settled import can_settle, settled
from .report.terminal import one_line

# keyword@4 settles a refusal once the few sentences after it are complete: on XSTest's completions that is
# mostly 60-150 characters, 15-40 tokens, so a first round of 16 would settle almost nothing.
FIRST_ROUND = 32


def round_budgets(cap: int, first: int | None = None) -> list[int]:
    """32, 64, 128, ... and finally `cap`; a round is only worth its prefill when at least as many tokens are
    left after it (cap 48 is one round: what full decoding does)."""
    out, budget = [], first or FIRST_ROUND
    while 2 * budget <= cap:
        out.append(budget)
        budget *= 2
    return [b for b in out if b < cap] + [cap]


def generate_progressively(engine, requests, missing, groups, keys, cache, fresh, bar):
    """Answer the greedy requests among `missing` into `fresh`; return (missing, groups) of those left to the
    plain path. In `full` mode (or without a judge or backend that can stop early) that is all of them, except
    that cached starts are still continued rather than generated again."""
    verdict = engine.decoding == "verdict" and can_settle(engine.judge)
    if not can_continue(engine.backend):
        return missing, groups
    greedy = [i for i in missing if requests[i].sampling.temperature == 0]
    store = _store(engine, cache)
    starts = _cached_starts(engine, store, requests, greedy)
    if not verdict:  # full: only answers with a cached start are continued here
        greedy = [i for i in greedy if i in starts]
    mine = set(greedy)
    if mine:
        _Rounds(engine, requests, greedy, groups_of(missing, groups), keys, cache, store, fresh, bar,
                starts, verdict).run()
    rest = [(i, g) for i, g in zip(missing, groups) if i not in mine]
    return [i for i, _ in rest], [g for _, g in rest]


def groups_of(missing, groups) -> dict[int, str]:
    return dict(zip(missing, groups))


def _store(engine, cache) -> PartialStore | None:
    if cache is None or engine.stats.uncached_reason:
        return None
    try:
        return PartialStore(cache)
    except OverrefusalError as exc:  # answer starts are a saving, never a reason to stop the run
        engine.stats.uncached_reason = f"the cache's partials table cannot be used, answers were not cached: {exc}"
        return None


def _cached_starts(engine, store, requests, indices) -> dict[int, Partial]:
    if store is None or not indices:
        return {}
    fingerprint = engine.backend.fingerprint
    pkeys = {i: partial_key(fingerprint, requests[i]) for i in indices}
    try:
        found = store.get_many(sorted(set(pkeys.values())))
    except OverrefusalError:
        return {}
    return {i: found[k] for i, k in pkeys.items()
            if k in found and found[k].new_tokens <= requests[i].sampling.max_new_tokens}


class _Rounds:
    def __init__(self, engine, requests, indices, group, keys, cache, store, fresh, bar, starts, verdict):
        self.engine, self.requests, self.group, self.keys = engine, requests, group, keys
        self.cache, self.store, self.fresh, self.bar, self.verdict = cache, store, fresh, bar, verdict
        self.state: dict[int, Partial] = dict(starts)
        self.complete: list[tuple[str, Response]] = []  # stored in the response cache batch by batch
        order = {g: n for n, g in enumerate(dict.fromkeys(group[i] for i in indices))}
        self.order = order
        self.in_call = has_capability(engine.backend, "stop_when")
        self.refill = verdict and self.in_call and has_capability(engine.backend, "refill")
        self.unsaved: list[tuple[int, Partial]] = []  # answers ended inside a refilling call, not yet stored
        from .engine import batch_size
        self.batch = batch_size(engine.backend)
        self.open = [i for i in indices if not self._finish(i)]

    def run(self) -> None:
        caps = {self.requests[i].sampling.max_new_tokens for i in self.open}
        if not caps:
            return
        # A backend that stops answers inside its call (hf) gets one round: on CPU the prefill a round repeats
        # costs more than the rows that idle in a batch after they settle. Others get rounds that refill batches.
        one_round = not self.verdict or self.in_call
        budgets = [max(caps)] if one_round else round_budgets(max(caps))
        self._flush()
        for budget in budgets:
            self._round(budget)
            self.open = [i for i in self.open if i not in self.fresh]
            if not self.open:
                return
        short = self.state.get(self.open[0])
        raise BackendError(f"model {self.engine._name()}: continue_generation() left {len(self.open)} answers "
                           f"short of their token limit without ending them (e.g. {short.new_tokens if short else 0}"
                           f" of {self.requests[self.open[0]].sampling.max_new_tokens} tokens, eos=False); it must "
                           f"grow each answer to max_new_tokens or set eos=True")

    def _flush(self) -> None:
        if self.complete:
            self.engine._store(self.cache, self.complete)
            self.complete = []

    def _round(self, budget: int) -> None:
        from .engine import _batches

        wanted = {i: min(budget, self.requests[i].sampling.max_new_tokens) for i in self.open}
        todo = [i for i in self.open if self._done(i) < wanted[i]]
        todo.sort(key=lambda i: (self.order[self.group[i]], -len(self.requests[i].messages[-1][1]) - self._done(i)))
        if self.refill:
            todo = self._refilled(todo, wanted)
        for batch in _batches(todo, [self.group[i] for i in todo], self.batch):
            by_target: dict[int, list[int]] = {}
            for i in batch:  # one call per target (suites in one batch share theirs)
                by_target.setdefault(wanted[i], []).append(i)
            for target, members in by_target.items():
                self._continue(members, target)
                for i in members:
                    self._finish(i)
                self._flush()  # committed batch by batch: a kill loses at most the batch in flight

    def _refilled(self, todo: list[int], wanted: dict[int, int]) -> list[int]:
        """One call per token target for the answers of every suite, the backend keeping its batch full across
        them; answers are stored as they end. If a call that spans suites fails, what it left unanswered goes the
        batch path (suite by suite), so a failure falls on its own suite alone, as there. Returns what is left."""
        by_target: dict[int, list[int]] = {}
        for i in todo:
            by_target.setdefault(wanted[i], []).append(i)
        for target, members in by_target.items():
            try:
                self._continue(members, target, refill=True)
                for i in members:  # a backend that returned an answer without handing it to on_done
                    self._finish(i)
            except BackendError:
                if len({self.group[i] for i in members if i not in self.fresh}) <= 1:
                    raise
            finally:
                self._store_ended()
        return [i for i in todo if i not in self.fresh]

    def _continue(self, members: list[int], target: int, refill: bool = False) -> None:
        backend = self.engine.backend
        extra = {}
        if self.verdict and self.in_call:
            extra["stop_when"] = lambda k, text: self._settled(self.requests[members[k]].messages[-1][1], text)
        if refill:
            extra["on_done"] = lambda k, partial: self._ended(members[k], partial)
        with model_boundary(backend, "continue_generation()"):
            out = backend.continue_generation([self.requests[i] for i in members],
                                              [self.state.get(i) for i in members], target, **extra)
        if not isinstance(out, (list, tuple)) or len(out) != len(members) or not all(map(_is_partial, out)):
            raise self._wrong_answer(out)
        self.state.update(zip(members, out))
        # in a refilling call the answers that ended were stored as they ended
        rows = [(i, p) for i, p in zip(members, out) if not (refill and i in self.fresh)]
        if self.store is not None and rows:
            self._save_partials(rows)

    def _ended(self, i: int, partial) -> None:
        """An answer a refilling call finished: recorded now, stored with the next batch's worth."""
        if not _is_partial(partial):
            raise self._wrong_answer(partial)
        self.state[i] = partial
        self._finish(i)
        self.unsaved.append((i, partial))
        if len(self.unsaved) >= self.batch:
            self._store_ended()

    def _store_ended(self) -> None:
        if self.store is not None and self.unsaved:
            self._save_partials(self.unsaved)
        self.unsaved = []
        self._flush()

    def _wrong_answer(self, out) -> BackendError:
        return BackendError(f"model {self.engine._name()}: continue_generation() must return one "
                            f"pytest_overrefusal.continuation.Partial per request, in order; got "
                            f"{one_line(type(out).__name__, 40)}")

    def _save_partials(self, rows) -> None:
        fingerprint = self.engine.backend.fingerprint
        try:
            self.store.put_many(getattr(self.engine.backend, "name", ""),
                                [(partial_key(fingerprint, self.requests[i]), p) for i, p in rows])
        except OverrefusalError as exc:  # the answers are kept for this run; only their head start is lost
            self.engine.stats.uncached_reason = f"storing answers failed, this run's answers were not cached: {exc}"
            self.store = None

    def _done(self, i: int) -> int:
        p = self.state.get(i)
        return p.new_tokens if p is not None else 0

    def _finish(self, i: int) -> bool:
        """Record answer i if it is over (its end, its budget, or a settled verdict); True when it is."""
        p = self.state.get(i)
        if i in self.fresh:
            return True
        if p is None:
            return False
        request = self.requests[i]
        cap = request.sampling.max_new_tokens
        if p.eos or p.new_tokens >= cap:
            response = Response(text=p.text, finish_reason="stop" if p.eos else "length",
                                prompt_tokens=p.prompt_tokens, completion_tokens=p.new_tokens)
            self.complete.append((self.keys[i], response))
        elif self.verdict and self._settled(request.messages[-1][1], p.text):
            response = Response(text=p.text, finish_reason="verdict", prompt_tokens=p.prompt_tokens,
                                completion_tokens=p.new_tokens)
        else:
            return False
        self.fresh[i] = response
        self.bar(1)
        return True

    def _settled(self, prompt: str, text: str) -> bool:
        judge = self.engine.judge
        try:
            return settled(judge, prompt, text)
        except OverrefusalError:
            raise
        except Exception as exc:  # noqa: BLE001 - a judge's own settled() failing is one line
            raise JudgeError(f"judge {one_line(getattr(judge, 'id', judge), 80)}: settled() raised "
                             f"{type(exc).__name__}: {one_line(exc)}; fix it, or run with "
                             f"--overrefusal-decoding full") from None


def _is_partial(p) -> bool:
    return isinstance(p, Partial) and isinstance(p.text, str)
