"""The leader rank of an instance: the engine's scheduler, block manager and sampler.

It reuses the single-process engine's pieces: `EngineScheduler` (continuous batching,
chunked prefill, preemption) around the configured `LocalScheduler`, `PagedKVManager`
(block ids shared by every rank of the instance), `ModelRunner.prepare` / `run` (step
inputs and sampling) with the forward pass replaced by the tensor-parallel one, which
broadcasts each step's inputs to the instance's other ranks first.
"""

from __future__ import annotations

import time
from typing import Any

import torch
import torch.distributed as dist

from toolkit.cache.radix import RadixCache
from toolkit.engine.components import make_policy
from toolkit.engine.model_runner import ModelRunner, StepInputs
from toolkit.engine.paged_kv import PagedKVManager
from toolkit.engine.sampling import SamplingParams
from toolkit.engine.scheduler import EngineScheduler, StepPlan
from toolkit.engine.sequence import EngineSeq, make_request
from toolkit.engine.tp.comm import (
    Cmd,
    broadcast_ints,
    pack_step,
    recv_header,
    regroup_world,
    send_header,
)
from toolkit.engine.tp.rank import RankState
from toolkit.engine.tp.results import MigrationStats, StepOutput, SwitchStats
from toolkit.sched.base import LocalScheduler


class TPModelRunner(ModelRunner):
    """`ModelRunner` whose forward pass is the rank's shard plus its instance's ranks."""

    def __init__(self, state: RankState, max_model_len: int) -> None:
        self.state = state
        self.all_reduce = True
        cfg = state.spec.config
        super().__init__(state.model, state.num_blocks, cfg.block_size, max_model_len)

    def _allocate_kv_cache(self, num_blocks: int) -> torch.Tensor:
        return self.state.kv_view()  # the rank's storage, viewed at the current level

    def forward_logits(self, inputs: StepInputs, decode_batch: int = 0) -> torch.Tensor:
        state = self.state
        if state.tp > 1:
            args, payload = pack_step(inputs.input_ids, inputs.positions, inputs.meta,
                                      self.all_reduce)
            send_header(Cmd.STEP, args, state.rank, state.group, state.device)
            broadcast_ints(payload, payload.numel(), state.rank, state.group, state.device)
        hidden = state.forward(inputs.input_ids, inputs.positions, inputs.meta,
                               self.all_reduce)
        return self.model.compute_logits(hidden[inputs.logits_indices])


class TPLeader:
    """Requests, steps, TP switches and migrations of one instance (commands from the
    client arrive as method calls `cmd_<name>`)."""

    def __init__(self, state: RankState) -> None:
        self.state = state
        config = state.spec.config
        cfg = state.spec.model_config
        self.block_size = config.block_size
        self.prefix_caching = config.enable_prefix_caching
        self.max_model_len = min(config.max_model_len or cfg.max_position_embeddings,
                                 cfg.max_position_embeddings, state.num_blocks * self.block_size)
        self.runner = TPModelRunner(state, self.max_model_len)
        self.kv = PagedKVManager(state.num_blocks, self.block_size, RadixCache())
        self.scheduler = EngineScheduler(make_policy(config), self.kv, cfg.eos_token_id,
                                         self.max_model_len)
        self.seqs: dict[str, EngineSeq] = {}
        self.prompt_lens: dict[str, int] = {}

    # -- requests and steps --------------------------------------------------------------
    def cmd_add(self, rid: str, token_ids: list[int], max_tokens: int, greedy: bool = True,
                ignore_eos: bool = False, seed: int | None = None,
                ttft_slo_s: float | None = None) -> None:
        """Queue a request (ValueError if it can never run here); `ttft_slo_s` goes into
        its `meta` for the scheduler (see `toolkit.sched.tiered`)."""
        if rid in self.seqs:
            raise ValueError(f"duplicate request id {rid!r}")
        params = SamplingParams(temperature=0.0 if greedy else 1.0, max_tokens=max_tokens,
                                ignore_eos=ignore_eos, seed=seed)
        gen = None if greedy else torch.Generator().manual_seed((seed or 0) & (2**63 - 1))
        req = make_request(rid, time.monotonic(), token_ids, max_tokens, self.block_size,
                           self.prefix_caching,
                           None if ttft_slo_s is None else {"ttft_slo_s": float(ttft_slo_s)})
        seq = EngineSeq(req, token_ids, params, gen)
        if not token_ids or len(token_ids) >= self.max_model_len or not self.kv.can_ever_fit(seq):
            raise ValueError(f"request {rid!r}: prompt of {len(token_ids)} tokens does not fit "
                             f"(max_model_len {self.max_model_len}, KV pool)")
        self.seqs[rid] = seq
        self.prompt_lens[rid] = len(token_ids)
        self.scheduler.add(seq)

    def cmd_set_scheduler(self, scheduler: LocalScheduler) -> None:
        if not isinstance(scheduler, LocalScheduler):
            raise TypeError(f"set_scheduler: need a LocalScheduler, got {type(scheduler).__name__}")
        self.scheduler.policy = scheduler

    def cmd_take(self, rid: str) -> tuple[list[int], int, bool, bool, int | None, float | None]:
        """Drop a request that has produced no token yet (waiting, or part-way through its
        prefill) and return what re-adds it elsewhere: (prompt, max_tokens, greedy,
        ignore_eos, seed, ttft_slo_s)."""
        seq = self.seqs.get(rid)
        if seq is None or seq.finish_reason is not None or seq.num_generated:
            raise ValueError(f"request {rid!r} is not here without output (decoding ones migrate)")
        self.scheduler.abort(rid)
        del self.seqs[rid]
        n = self.prompt_lens.pop(rid)
        p = seq.params
        return (seq.token_ids[:n], seq.request.output_len, p.greedy, p.ignore_eos, p.seed,
                seq.request.meta.get("ttft_slo_s"))

    def cmd_has_unfinished(self) -> bool:
        return self.scheduler.has_unfinished()

    def cmd_step(self) -> tuple[list[StepOutput], float, int]:
        """One iteration: (outputs of sequences that got tokens, seconds the model step took
        (broadcast, forward, all-reduces, sampling), sequences in the batch)."""
        plan = self.scheduler.schedule()
        if plan is None:
            return [], 0.0, 0
        t0 = time.perf_counter()
        tokens = self.runner.run(plan)
        secs = time.perf_counter() - t0
        result = self.scheduler.postprocess(plan, tokens)
        outs = [StepOutput(s.id, s.token_ids[len(s.token_ids) - n:], s.finish_reason)
                for s, n in zip(result.updated, result.num_new)]
        return outs, secs, len(plan.decode) + len(plan.prefill)

    def cmd_output(self, rid: str, forget: bool = False) -> tuple[list[int], str | None]:
        """(output token ids so far, finish reason) of a request; `forget` drops a finished
        one afterwards."""
        seq = self.seqs[rid]
        out = seq.token_ids[self.prompt_lens[rid]:], seq.finish_reason
        if forget and seq.finish_reason is not None:
            del self.seqs[rid], self.prompt_lens[rid]
        return out

    def cmd_prompt_logits(self, prompts: list[list[int]], all_reduce: bool = True) -> Any:
        """Float32 logits [N, vocab] of each prompt's last token, from one prefill step whose
        KV is freed afterwards (the prompts are not cached)."""
        seqs: list[EngineSeq] = []
        try:
            for i, ids in enumerate(prompts):
                req = make_request(f"__logits{i}", 0.0, ids, 1, self.block_size, False)
                seq = EngineSeq(req, ids, SamplingParams(temperature=0.0), None)
                if not self.kv.admit(seq):
                    raise RuntimeError("prompt_logits: not enough free KV blocks")
                seqs.append(seq)
            plan = StepPlan(prefill=[(s, s.prefill_len - s.num_prefilled) for s in seqs])
            self.runner.all_reduce = all_reduce
            with torch.inference_mode():
                logits = self.runner.forward_logits(self.runner.prepare(plan))
        finally:
            self.runner.all_reduce = True
            for seq in seqs:
                self.kv.release(seq)
        return logits.cpu().numpy()

    # -- reconfiguration -----------------------------------------------------------------
    def cmd_switch(self, new_tp: int) -> SwitchStats:
        """Stop between steps, re-split the KV heads of every used block over `new_tp`
        ranks and go on: the single instance, or (tiled) the world re-laid at `new_tp`,
        every other old leader waiting in `cmd_await_control` (the client checks the level
        and that instances about to vanish are empty before it starts)."""
        state = self.state
        spec = state.spec
        if state.num_instances != 1 and not spec.tiled:
            raise ValueError("switch_tp needs num_instances=1 or a tiled world")
        if new_tp not in spec.tp_levels():
            raise ValueError(f"tp={new_tp} is not one of this world's levels "
                             f"{spec.tp_levels()}")
        t0 = time.perf_counter()
        old_tp = state.tp
        if new_tp == old_tp:
            return SwitchStats(old_tp, new_tp, 0.0, 0, 0)
        live = self.live_blocks()
        if spec.tiled:
            self._enter_control(Cmd.REGROUP, [new_tp])
            moved = regroup_world(state, new_tp, live)
        else:
            self._enter_control(Cmd.SWITCH, [new_tp, len(live)])
            broadcast_ints(live, len(live), 0, dist.group.WORLD, state.device)
            moved = state.switch(new_tp, live)
        self.runner.kv_cache = state.kv_view()
        return SwitchStats(old_tp, new_tp, time.perf_counter() - t0, moved, len(live))

    def cmd_await_control(self) -> None:
        """Another old leader of a tiled world during a regroup: release this instance's
        members, then take part in rank 0's regroup (this rank may stop leading)."""
        state = self.state
        if state.tp > 1:
            send_header(Cmd.CONTROL, [], state.rank, state.group, state.device)
        header = recv_header(0, dist.group.WORLD, state.device)
        if Cmd(header[0]) != Cmd.REGROUP:
            raise RuntimeError(f"expected a regroup, got {Cmd(header[0]).name}")
        regroup_world(state, header[1], self.live_blocks())
        if state.is_leader:
            self.runner.kv_cache = state.kv_view()

    def live_blocks(self) -> list[int]:
        """Block ids in use (by requests or the prefix cache)."""
        return sorted(set(range(self.state.num_blocks)) - set(self.kv.free_blocks))

    def _enter_control(self, cmd: Cmd, args: list[int]) -> None:
        """Bring every rank of the world to a control message `cmd` (members leave their
        step loop first)."""
        state = self.state
        if state.tp > 1:
            send_header(Cmd.CONTROL, [], state.rank, state.group, state.device)
        send_header(cmd, args, 0, dist.group.WORLD, state.device)

    def cmd_inspect(self) -> dict[str, Any]:
        """This rank's weight and view storage; the others report to the client."""
        if self.state.spec.world_size > 1 and self.state.num_instances == 1:
            self._enter_control(Cmd.INSPECT, [])
        return self.state.inspect()

    def shutdown(self) -> None:
        """Tell the other ranks to exit."""
        state = self.state
        if state.num_instances > 1:
            if state.tp > 1:
                send_header(Cmd.SHUTDOWN, [], state.rank, state.group, state.device)
        elif state.spec.world_size > 1:
            self._enter_control(Cmd.SHUTDOWN, [])

    # -- migration (several instances) ---------------------------------------------------
    def cmd_export(self, rid: str, dst_instance: int) -> MigrationStats:
        """Move a decoding greedy request's KV and tokens to instance `dst_instance` (which
        runs `cmd_import` at the same time) and drop it here."""
        from toolkit.engine.tp.migrate import export_seq

        return export_seq(self, rid, dst_instance)

    def cmd_import(self, rid: str, src_instance: int) -> str:
        """Receive request `rid` from instance `src_instance` and queue it."""
        from toolkit.engine.tp.migrate import import_seq

        return import_seq(self, rid, src_instance)
