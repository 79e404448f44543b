"""Speculative decoding in the engine: a drafter and a budget (policy objects from
`toolkit.spec`) propose tokens before a step; the step verifies them
(`toolkit.engine.verify`); afterwards the drafter sees what was accepted and the blocks that
held rejected tokens go back to the pool."""

from __future__ import annotations

from collections.abc import Sequence

from toolkit.engine.paged_kv import PagedKVManager
from toolkit.engine.scheduler import StepPlan, StepResult
from toolkit.engine.sequence import EngineSeq
from toolkit.spec.base import Draft, Drafter, SeqKey
from toolkit.spec.budget import SpecBudget


class Speculator:
    """Drafts for each decoding sequence, within its budget, the step's token limits and
    the KV blocks it can get; at most `max_tokens` draft tokens per sequence and step."""

    def __init__(self, drafter: Drafter, budget: SpecBudget, max_tokens: int) -> None:
        if max_tokens < 1:
            raise ValueError(f"num_speculative_tokens must be >= 1, got {max_tokens}")
        self.drafter, self.budget, self.max_tokens = drafter, budget, max_tokens

    @staticmethod
    def key(seq: EngineSeq) -> SeqKey:
        return SeqKey(seq.spec_key, seq.id)

    def start_step(self, seqs: Sequence[EngineSeq]) -> None:
        """The budget plans for these sequences (an RL step's rollouts)."""
        self.budget.start_step([self.key(s) for s in seqs])

    def new_epoch(self) -> None:
        self.drafter.new_epoch()
        self.budget.new_epoch()

    def draft(self, plan: StepPlan, kv: PagedKVManager, max_model_len: int) -> None:
        """Fill `plan.drafts` (left empty when no sequence drafts anything)."""
        drafts: list[Draft | None] = []
        for seq in plan.decode:
            drafts.append(self._draft_one(seq, kv, max_model_len))
        plan.drafts = drafts if any(d is not None for d in drafts) else []

    def _draft_one(self, seq: EngineSeq, kv: PagedKVManager, max_model_len: int) -> Draft | None:
        key = self.key(seq)
        k = min(self.budget.draft_len(key, seq.num_generated_total), self.max_tokens,
                seq.request.output_len - seq.num_generated - 1,
                max_model_len - seq.num_tokens - 1)
        if k <= 0:
            return None
        draft = self.drafter.propose(key, seq.token_ids, k)
        if not draft.tokens:
            return None
        room = kv.reserve_slots(seq, seq.num_tokens + len(draft)) - seq.num_tokens
        if room < len(draft):
            draft = truncate(draft, room)
        return draft if draft.tokens else None

    def after(self, plan: StepPlan, verified: list[list[int]], result: StepResult,
              kv: PagedKVManager) -> None:
        """Count each verify step, free the blocks that held rejected tokens, show the
        drafter the new tokens and the budget the finished sequences."""
        finished = {id(s) for s in result.finished}
        n_prefill = len(result.updated) - len(plan.decode)
        for seq, draft, toks in zip(plan.decode, plan.drafts, verified[n_prefill:]):
            if draft is None:
                continue
            seq.num_draft_tokens += len(draft)
            seq.num_accepted_tokens += len(toks) - 1
            seq.num_verify_steps += 1
            if id(seq) not in finished:
                kv.trim(seq)
        for seq, new in zip(result.updated, result.num_new):
            key = self.key(seq)
            self.drafter.observe(key, seq.token_ids[len(seq.token_ids) - new:])
            if id(seq) in finished:
                self.drafter.finish(key)
                self.budget.finish(key, seq.num_generated_total, seq.num_draft_tokens,
                                   seq.num_accepted_tokens)


def truncate(draft: Draft, n: int) -> Draft:
    """The first `n` tokens of a draft."""
    if n <= 0:
        return Draft()
    laws = None if draft.laws is None else draft.laws[:n]
    return Draft(draft.tokens[:n], draft.probs[:n], draft.scores[:n], laws, draft.match_len)
