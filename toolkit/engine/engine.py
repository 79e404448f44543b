"""`LLMEngine`: requests in, steps of schedule -> run -> postprocess, outputs and records out.

It emits the simulator's per-request events (`on_first_token`, `on_finish`, `on_fail` of a
listener with the `toolkit.sim.engine.EngineListener` shape, plus `on_preempt`, `on_pause`
and `on_resume` if the listener has them) and keeps one `RequestRecord` per request, timed
by a real clock.

Pauses (InferCept): a request added with `pause_after=[n1, n2, ...]` pauses after n1
generated tokens (an output with `paused=True`, finish reason "pause"), waits for
`resume(request_id, tool_token_ids)`, generates n2 tokens, pauses again, ... and after the
last resume generates `max_tokens` tokens. The engine's pause policy decides what happens to
its KV meanwhile (see `toolkit.engine.pause`).
"""

from __future__ import annotations

import itertools
import math
import time
from collections.abc import Callable, Hashable, Mapping, Sequence
from typing import Any

import torch

from toolkit.core.record import RequestRecord
from toolkit.engine.components import build_components
from toolkit.engine.config import EngineConfig
from toolkit.engine.host_kv import EnginePauseTiming, HostSwapSpace, timed
from toolkit.engine.loader import copy_weights
from toolkit.engine.outputs import CompletionOutput, RequestOutput
from toolkit.engine.paged_kv import PagedKVManager
from toolkit.engine.pause import PauseManager, ResumeError, check_pause_after, make_pause_policy
from toolkit.engine.sampling import SamplingParams
from toolkit.engine.scheduler import EngineScheduler, StepPlan, StepResult
from toolkit.engine.sequence import EngineSeq, make_request
from toolkit.route.base import EngineStats
from toolkit.sched.seq import SeqStatus


class LLMEngine:
    """One engine (one device). Build with `LLMEngine(EngineConfig(...))` or
    `LLMEngine.from_kwargs(model=..., **options)`."""

    def __init__(self, config: EngineConfig, listener: Any = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.config = config
        self.listener = listener
        self.clock = clock
        parts = build_components(config)
        self.model_config = parts.model_config
        self.tokenizer = parts.tokenizer
        self.runner = parts.runner
        self.kv: PagedKVManager = parts.kv
        self.max_model_len = parts.max_model_len
        self.scheduler = EngineScheduler(parts.policy, self.kv, parts.eos_token_ids,
                                         parts.max_model_len)
        self.speculator = parts.speculator
        self.pauses = self._build_pauses(config)
        self.records: dict[str, RequestRecord] = {}
        self._seqs: dict[str, EngineSeq] = {}
        self._ids = itertools.count()
        self.num_steps = 0
        self.last_step = (0, 0.0)  # (tokens, seconds) of the last model step

    @classmethod
    def from_kwargs(cls, listener: Any = None, **kwargs: Any) -> LLMEngine:
        return cls(EngineConfig.from_kwargs(**kwargs), listener=listener)

    def _build_pauses(self, config: EngineConfig) -> PauseManager:
        cache = self.runner.kv_cache
        per_token = cache[:, :, 0, 0].numel() * cache.element_size()
        timing = EnginePauseTiming(per_token, config.pause_cost_model)
        space = config.swap_space_tokens
        swap = HostSwapSpace(self.kv.capacity_tokens if space is None else space,
                             config.block_size)
        return PauseManager(make_pause_policy(config.pause_policy),
                            timing, swap, self.scheduler, cache, config.pause_timeout_s,
                            config.enable_prefix_caching, config.engine_id)

    # -- requests ------------------------------------------------------------------------
    def add_request(self, prompt: str | Sequence[int], params: SamplingParams | None = None,
                    request_id: str | None = None, arrival_s: float | None = None,
                    pause_after: Sequence[int] = (),
                    pause_durations_s: Sequence[float] | None = None,
                    problem: Hashable = None) -> str:
        """Queue a text or token-id prompt; return its request id. A request that can never
        fit the KV pool or the model length fails at once (`on_fail`, a failed record).

        `pause_after`: output lengths (each >= 1) of segments that end in a pause for a tool
        (then `max_tokens` counts the tokens after the last resume). `pause_durations_s`:
        the tools' true durations when known (a trace's oracle), shown to the pause policy.
        `problem`: what the sequence samples, for speculation (the G samples of one prompt
        share it; default: the request id).
        """
        params = params if params is not None else SamplingParams()
        pause_after = check_pause_after(pause_after)
        index = next(self._ids)
        rid = request_id if request_id is not None else str(index)
        if rid in self._seqs:
            raise ValueError(f"duplicate request id {rid!r}")
        text, ids = self._tokenize(prompt)
        arrival = self.clock() if arrival_s is None else arrival_s
        meta = {} if pause_durations_s is None else {"pause_durations_s": tuple(pause_durations_s)}
        first_len = pause_after[0] if pause_after else params.max_tokens
        req = make_request(rid, arrival, ids, first_len, self.config.block_size,
                           self.config.enable_prefix_caching, meta)
        seed = params.seed if params.seed is not None else self.config.seed * 1_000_003 + index
        gen = None if params.greedy else torch.Generator().manual_seed(seed & (2**63 - 1))
        seq = EngineSeq(req, ids, params, gen, prompt=text, pause_after=pause_after,
                        spec_key=problem)
        self._seqs[rid] = seq
        self.records[rid] = RequestRecord(request_id=rid, arrival_s=arrival,
                                          num_prompt_tokens=len(ids),
                                          engine_id=self.config.engine_id)
        reason = self._reject_reason(seq)
        if reason:
            self._fail(seq, reason)
        else:
            self.scheduler.add(seq)
        return rid

    def _tokenize(self, prompt: str | Sequence[int]) -> tuple[str | None, list[int]]:
        if isinstance(prompt, str):
            if self.tokenizer is None:
                raise ValueError("text prompts need a tokenizer (none was found)")
            return prompt, list(self.tokenizer.encode(prompt))
        return None, [int(t) for t in prompt]

    def _reject_reason(self, seq: EngineSeq) -> str:
        n = seq.request.prompt_len
        if n == 0:
            return "empty prompt"
        if n >= self.max_model_len:
            return f"prompt of {n} tokens reaches max_model_len {self.max_model_len}"
        if not self.kv.can_ever_fit(seq):
            return f"prompt of {n} tokens plus max_tokens exceeds the KV pool"
        return ""

    def _fail(self, seq: EngineSeq, reason: str) -> None:
        rec = self.records[seq.id]
        rec.failed, rec.error = True, reason
        rec.num_pauses, rec.num_output_tokens = seq.num_pauses, seq.num_generated_total
        self._spec_counts(seq, rec)
        seq.finish_reason = "abort"
        seq.status = SeqStatus.FINISHED
        if self.listener is not None:
            self.listener.on_fail(self.config.engine_id, seq, self.clock(), reason)

    def abort_request(self, request_id: str) -> bool:
        """Stop a request; its record is marked failed ("aborted"). False if unknown/done."""
        seq = self.scheduler.abort(request_id) or self.pauses.abort(request_id, self.clock())
        if seq is None:
            return False
        self.pauses.drop_kv(seq)
        self._fail(seq, "aborted")
        return True

    # -- pauses --------------------------------------------------------------------------
    def resume(self, request_id: str, token_ids: Sequence[int] = ()) -> None:
        """Append a paused request's tool tokens to its context and let it go on; raise
        `ResumeError` (a ValueError; `reason` 'unknown', 'not_paused' or 'invalid') if the
        request is not paused or its context would not fit (it then stays paused)."""
        seq = self._seqs.get(request_id)
        if seq is None or seq.finish_reason is not None:
            raise ResumeError(f"no live request {request_id!r} (unknown, finished or timed "
                              "out)", "unknown")
        if not seq.paused:
            raise ResumeError(f"request {request_id!r} is not paused", "not_paused")
        ids = [int(t) for t in token_ids]
        self.pauses.check_fits(seq, len(ids), self.max_model_len)
        now = self.clock()
        self.pauses.resume(seq, ids, now)
        hook = getattr(self.listener, "on_resume", None)
        if hook is not None:
            hook(self.config.engine_id, seq, now)

    @property
    def num_paused(self) -> int:
        """Requests waiting for a tool (not counted by `has_unfinished`)."""
        return len(self.pauses.paused)

    def expire_paused(self) -> list[RequestOutput]:
        """Fail the paused requests whose tool has not returned within `pause_timeout_s`
        (record error 'tool timeout'); return their outputs. `step` calls it too."""
        out = []
        for seq in self.pauses.expired(self.clock()):
            self._fail(seq, "tool timeout")
            out.append(self.output(seq.id))
        return out

    def take_pause_log(self) -> list[dict[str, Any]]:
        """One dict per pause that ended since the last call, keys
        `toolkit.engine.pause.PAUSE_LOG_COLUMNS`: the simulator's pause columns (request id,
        pause index, final and first action, duration, seconds until the final action,
        context tokens, engine id) plus start time, swap fallback, swap-out seconds and
        outcome ('resumed', 'timeout', 'aborted')."""
        return self.pauses.take_log()

    # -- stepping ------------------------------------------------------------------------
    def has_unfinished(self) -> bool:
        """Whether any request waits to run or runs (paused ones: `num_paused`)."""
        return self.scheduler.has_unfinished() or self.pauses.has_copies_in()

    def step(self) -> list[RequestOutput]:
        """Run one iteration; return the outputs of the requests that got a token (a
        request that paused has `paused=True`) and of those whose pause timed out."""
        expired = self.expire_paused()
        self.pauses.review(self.clock())
        self.pauses.copy_step(self.clock())
        plan = self.scheduler.schedule()
        self._report_preemptions()
        if plan is None:
            return expired
        for seq in plan.swap_in:
            self.pauses.swap_in(seq)
        if self.speculator is not None and plan.decode:
            self.speculator.draft(plan, self.kv, self.max_model_len)
        tokens = self._run(plan)
        result = self.scheduler.postprocess(plan, tokens)
        if self.speculator is not None:
            self.speculator.after(plan, tokens, result, self.kv)
        self.num_steps += 1
        now = self.clock()
        self._pause(result.paused, now)
        self._emit(result, now)
        return expired + [self.output(s.id) for s in result.updated]

    def _run(self, plan: StepPlan) -> list[list[int]]:
        tokens, secs = timed(self.runner.run, plan)
        self.last_step = (plan.num_tokens, secs)
        self.pauses.timing.observe_iteration(plan.num_tokens, secs)
        self.pauses.last_query_tokens = plan.num_tokens
        return tokens

    def _pause(self, paused: list[EngineSeq], now: float) -> None:
        hook = getattr(self.listener, "on_pause", None)
        for seq in paused:
            self.records[seq.id].num_pauses = seq.num_pauses
            self.pauses.pause(seq, now)
            if hook is not None:
                hook(self.config.engine_id, seq, now)

    def _report_preemptions(self) -> None:
        preempted, self.scheduler.preempted = self.scheduler.preempted, []
        hook = getattr(self.listener, "on_preempt", None)
        for seq in preempted:
            if hook is not None:
                hook(self.config.engine_id, seq, self.clock())

    def _emit(self, result: StepResult, now: float) -> None:
        engine_id = self.config.engine_id
        for seq in result.first_token:
            rec = self.records[seq.id]
            if not math.isnan(rec.first_token_s):
                continue  # a resumed segment's first token
            rec.first_token_s = now
            rec.num_cached_tokens = seq.first_cached_tokens
            if self.listener is not None:
                self.listener.on_first_token(engine_id, seq, now)
        for seq in result.finished:
            rec = self.records[seq.id]
            rec.finish_s = now
            rec.num_output_tokens = seq.num_generated_total
            rec.num_preemptions = seq.num_preemptions
            rec.num_pauses = seq.num_pauses
            self._spec_counts(seq, rec)
            if self.listener is not None:
                self.listener.on_finish(engine_id, seq, now)

    @staticmethod
    def _spec_counts(seq: EngineSeq, rec: RequestRecord) -> None:
        rec.num_draft_tokens = seq.num_draft_tokens
        rec.num_accepted_tokens = seq.num_accepted_tokens
        rec.num_verify_steps = seq.num_verify_steps

    # -- weights -------------------------------------------------------------------------
    def update_weights(self, state_dict: Mapping[str, torch.Tensor]) -> None:
        """Copy in new weights named as in a Hugging Face checkpoint (an RL step's policy)
        and drop the prefix cache, whose KV the old weights computed. Only between batches:
        raises while requests run or wait."""
        if self.has_unfinished() or self.num_paused:
            raise RuntimeError("update_weights: requests are still running or paused")
        copy_weights(self.runner.model, (("state_dict", k, v) for k, v in state_dict.items()))
        cache = self.kv.cache
        cache.evict(cache.evictable_size)
        self.kv.epoch += 1

    # -- speculation -------------------------------------------------------------------
    def start_speculation_step(self, request_ids: Sequence[str]) -> None:
        """Let the speculation budget plan for these requests (an RL step's rollouts, added
        and not yet decoding); nothing without speculation."""
        if self.speculator is not None:
            self.speculator.start_step([self._seqs[r] for r in request_ids])

    def new_epoch(self) -> None:
        """An RL step ended: the drafter and the budget move their windows."""
        if self.speculator is not None:
            self.speculator.new_epoch()

    # -- views ---------------------------------------------------------------------------
    def output(self, request_id: str) -> RequestOutput:
        """The current output of a request (text decoded once it has finished or paused)."""
        seq = self._seqs[request_id]
        done = seq.finish_reason is not None
        paused = seq.paused and not done
        out_ids = seq.output_token_ids
        text = ""
        if (done or paused) and self.tokenizer is not None:
            text = self.tokenizer.decode(out_ids, skip_special_tokens=seq.params.skip_special_tokens)
        completion = CompletionOutput(0, text, out_ids, "pause" if paused else seq.finish_reason,
                                      seq.num_draft_tokens, seq.num_accepted_tokens,
                                      seq.num_verify_steps)
        first = seq.segment_index == 0
        cached = max(seq.first_cached_tokens if first else seq.num_cached_tokens, 0)
        prompt = seq.prompt if first else None
        return RequestOutput(request_id, prompt, seq.token_ids[:seq.request.prompt_len],
                             [completion], done, cached, seq.num_preemptions, paused,
                             seq.num_pauses)

    def stats(self) -> EngineStats:
        """Load and cache statistics, as a router sees them."""
        sched = self.scheduler
        recs = [r for r in self.records.values() if not math.isnan(r.first_token_s)]
        prompt = sum(r.num_prompt_tokens for r in recs)
        return EngineStats(
            engine_id=self.config.engine_id, num_running=sched.running.num_running,
            num_waiting=len(sched.waiting),
            num_waiting_tokens=sum(s.remaining_prefill for s in sched.waiting),
            kv_used_tokens=self.kv.used_tokens, kv_capacity_tokens=self.kv.capacity_tokens,
            window_hit_ratio=sum(r.num_cached_tokens for r in recs) / prompt if prompt else 0.0,
        )

    def take_records(self) -> list[RequestRecord]:
        """Records of finished or failed requests, removed from the engine (arrival order)."""
        done = [rid for rid, s in self._seqs.items() if s.finish_reason is not None]
        out = sorted((self.records.pop(rid) for rid in done), key=lambda r: r.arrival_s)
        for rid in done:
            del self._seqs[rid]
        return out

    def check_integrity(self) -> None:
        """Assert block ownership, slot accounting, swap space and the prefix cache's
        invariants."""
        self.kv.check_integrity(self.scheduler.holding_blocks() + self.pauses.holding_blocks())
        self.pauses.check_integrity()

