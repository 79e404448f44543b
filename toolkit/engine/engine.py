"""`LLMEngine`: requests in, steps of schedule -> run -> postprocess, outputs and records out.

It emits the simulator's per-request events (`on_first_token`, `on_finish`, `on_fail` of a
listener with the `toolkit.sim.engine.EngineListener` shape, plus `on_preempt` if the listener
has it) and keeps one `RequestRecord` per request, timed by a real clock.
"""

from __future__ import annotations

import itertools
import math
import time
from collections.abc import Callable, Sequence
from typing import Any

import torch

from toolkit.core.record import RequestRecord
from toolkit.engine.block_manager import PagedKVManager
from toolkit.engine.config import EngineConfig
from toolkit.engine.outputs import CompletionOutput, RequestOutput
from toolkit.engine.sampling import SamplingParams
from toolkit.engine.scheduler import EngineScheduler, StepResult
from toolkit.engine.sequence import EngineSeq, make_request
from toolkit.engine.setup import build_components
from toolkit.route.base import EngineStats


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
        self.records: dict[str, RequestRecord] = {}
        self._seqs: dict[str, EngineSeq] = {}
        self._ids = itertools.count()
        self.num_steps = 0

    @classmethod
    def from_kwargs(cls, listener: Any = None, **kwargs: Any) -> LLMEngine:
        return cls(EngineConfig.from_kwargs(**kwargs), listener=listener)

    # -- requests ------------------------------------------------------------------------
    def add_request(self, prompt: str | Sequence[int], params: SamplingParams | None = None,
                    request_id: str | None = None, arrival_s: float | None = None) -> str:
        """Queue a text or token-id prompt; return its request id. A request that can never
        fit the KV pool or the model length fails at once (`on_fail`, a failed record)."""
        params = params if params is not None else SamplingParams()
        index = next(self._ids)
        rid = request_id if request_id is not None else str(index)
        if rid in self._seqs:
            raise ValueError(f"duplicate request id {rid!r}")
        text, ids = self._tokenize(prompt)
        arrival = self.clock() if arrival_s is None else arrival_s
        req = make_request(rid, arrival, ids, params.max_tokens, self.config.block_size,
                           self.config.enable_prefix_caching)
        seed = params.seed if params.seed is not None else self.config.seed * 1_000_003 + index
        gen = None if params.greedy else torch.Generator().manual_seed(seed & (2**63 - 1))
        seq = EngineSeq(req, ids, params, gen, prompt=text)
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
        seq.finish_reason = "abort"
        if self.listener is not None:
            self.listener.on_fail(self.config.engine_id, seq, self.clock(), reason)

    def abort_request(self, request_id: str) -> bool:
        """Stop a request; its record is marked failed ("aborted"). False if unknown/done."""
        seq = self.scheduler.abort(request_id)
        if seq is None:
            return False
        self._fail(seq, "aborted")
        return True

    # -- stepping ------------------------------------------------------------------------
    def has_unfinished(self) -> bool:
        return self.scheduler.has_unfinished()

    def step(self) -> list[RequestOutput]:
        """Run one iteration; return the outputs of the requests that got a token."""
        plan = self.scheduler.schedule()
        self._report_preemptions()
        if plan is None:
            return []
        tokens = self.runner.run(plan)
        result = self.scheduler.postprocess(plan, tokens)
        self.num_steps += 1
        self._emit(result, self.clock())
        return [self.output(s.id) for s in result.updated]

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
            rec.first_token_s = now
            rec.num_cached_tokens = seq.first_cached_tokens
            if self.listener is not None:
                self.listener.on_first_token(engine_id, seq, now)
        for seq in result.finished:
            rec = self.records[seq.id]
            rec.finish_s = now
            rec.num_output_tokens = seq.num_generated
            rec.num_preemptions = seq.num_preemptions
            if self.listener is not None:
                self.listener.on_finish(engine_id, seq, now)

    # -- views ---------------------------------------------------------------------------
    def output(self, request_id: str) -> RequestOutput:
        """The current output of a request (text decoded once it has finished)."""
        seq = self._seqs[request_id]
        done = seq.finish_reason is not None
        out_ids = seq.output_token_ids
        text = ""
        if done and self.tokenizer is not None:
            text = self.tokenizer.decode(out_ids, skip_special_tokens=seq.params.skip_special_tokens)
        completion = CompletionOutput(0, text, out_ids, seq.finish_reason)
        cached = max(seq.first_cached_tokens, 0)
        return RequestOutput(request_id, seq.prompt, seq.token_ids[:seq.request.prompt_len],
                             [completion], done, cached, seq.num_preemptions)

    def stats(self) -> EngineStats:
        """Load and cache statistics, as a router sees them."""
        sched = self.scheduler
        recs = [r for r in self.records.values() if not math.isnan(r.first_token_s)]
        prompt = sum(r.num_prompt_tokens for r in recs)
        return EngineStats(
            engine_id=self.config.engine_id, num_running=sched.running.num_running,
            num_waiting=len(sched.waiting),
            num_waiting_tokens=sum(s.prefill_len for s in sched.waiting),
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
        """Assert block ownership, slot accounting and the prefix cache's invariants."""
        self.kv.check_integrity(self.scheduler.all_running())
