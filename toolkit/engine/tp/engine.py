"""`TPEngine`: the client of a multi-process tensor-parallel engine.

It spawns `world_size` rank processes (torch.multiprocessing, a torch.distributed group:
gloo on CPUs, NCCL on GPUs) and talks to each instance's leader rank through a pipe. The
leader runs the scheduler and sampler and broadcasts each step's inputs to its instance's
other ranks; this object holds no model and no process group itself, so several can live in
one process.
"""

from __future__ import annotations

import contextlib
import itertools
import shutil
import tempfile
import time
import weakref
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from toolkit.engine.config import EngineConfig, ModelConfig
from toolkit.engine.tp.rank import WorkerSpec
from toolkit.engine.tp.results import GenerateResult, MigrationStats, StepOutput, SwitchStats
from toolkit.engine.tp.shard import check_tp

_UNSUPPORTED = ("drafter", "pause_policy", "pause_cost_model", "spec_budget")


class TPEngine:
    """A tensor-parallel engine over `world_size` rank processes.

    `model`: a Hugging Face Llama folder, or a `ModelConfig` (random weights from `seed`).
    `num_instances` engine instances of `tp` ranks each share the world (instance i on
    ranks [i*tp, (i+1)*tp)); with one instance `switch_tp` changes the level at run time
    (ranks past it idle), with several `migrate` moves requests between them. `tiled`:
    the instances always cover the world (world_size / tp of them), and `switch_tp` re-lays
    it at the new level, merging instances (those that vanish must be empty: `move_all`)
    or splitting them (the first of each split keeps its requests, the others start empty).
    Other keyword arguments are `EngineConfig` fields (`block_size`, `num_kv_blocks`,
    `chunk_size`, `scheduler`, `dtype`, `seed`, ...); pauses and speculation are not
    supported. Use it as a context manager, or call `close()`.
    """

    def __init__(self, model: str | Path | ModelConfig, world_size: int, tp: int = 1, *,
                 num_instances: int = 1, backend: str = "gloo",
                 init_method: str | None = None, num_threads: int = 1,
                 timeout_s: float = 300.0, tiled: bool = False, **engine_options: Any) -> None:
        if tiled:
            if world_size % tp:
                raise ValueError(f"tiled: tp={tp} must divide world_size={world_size}")
            num_instances = world_size // tp
        spec, self._tmp = _make_spec(model, world_size, tp, num_instances, backend,
                                     init_method, num_threads, timeout_s, tiled, engine_options)
        self._spec = spec
        self.world_size, self.num_instances, self.tp = world_size, num_instances, tp
        self.timeout_s = timeout_s
        self._where: dict[str, int] = {}
        self._ids = itertools.count()
        import torch.multiprocessing as mp

        from toolkit.engine.tp.worker import worker_main

        ctx = mp.get_context("spawn")
        self._conns, self._procs = [], []
        for rank in range(world_size):
            ours, theirs = ctx.Pipe()
            proc = ctx.Process(target=worker_main, args=(rank, spec, theirs), daemon=True,
                               name=f"tp-rank{rank}")
            proc.start()
            theirs.close()
            self._conns.append(ours)
            self._procs.append(proc)
        self._leaders = [self._leader_rank(i) for i in range(num_instances)]
        self._finalizer = weakref.finalize(self, _stop, self._procs, self._conns, self._leaders,
                                           self._tmp)
        for rank in range(world_size):
            self._receive(rank)

    # -- requests and steps --------------------------------------------------------------
    def add_request(self, prompt_token_ids: Sequence[int], max_tokens: int = 16,
                    greedy: bool = True, ignore_eos: bool = False, seed: int | None = None,
                    request_id: str | None = None, instance: int = 0,
                    ttft_slo_s: float | None = None) -> str:
        """Queue a prompt on `instance`; return its request id. `ttft_slo_s`: the request's
        TTFT target, for a scheduler that orders by deadline (None: best effort)."""
        rid = request_id if request_id is not None else str(next(self._ids))
        self._call(instance, "add", rid, [int(t) for t in prompt_token_ids], max_tokens,
                   greedy, ignore_eos, seed, ttft_slo_s)
        self._where[rid] = instance
        return rid

    def step(self, instance: int = 0) -> list[StepOutput]:
        """Run one iteration of `instance`; the tokens each request got."""
        return self._call(instance, "step")[0]

    def step_timed(self, instance: int = 0) -> tuple[list[StepOutput], float, int]:
        """`step`, plus the model step's seconds on the leader and its batch size."""
        return self._call(instance, "step")

    def step_many(self, instances: Sequence[int]) -> dict[int, list[StepOutput]]:
        """One iteration of each of `instances` at once (their ranks run in parallel); the
        tokens each request got, per instance."""
        for i in instances:
            self._send(i, "step")
        replies = {i: self._reply(i) for i in instances}
        for reply in replies.values():
            _raise_error(reply)
        return {i: reply[1][0] for i, reply in replies.items()}

    def set_scheduler(self, scheduler: Any, instance: int = 0) -> None:
        """Replace `instance`'s local scheduler (a `toolkit.sched.base.LocalScheduler`,
        pickled to its leader) between steps; its queue and batch stay as they are."""
        self._call(instance, "set_scheduler", scheduler)

    def instance_of(self, request_id: str) -> int:
        """The instance a request is on now."""
        return self._where[request_id]

    def has_unfinished(self, instance: int = 0) -> bool:
        return self._call(instance, "has_unfinished")

    def output(self, request_id: str, forget: bool = False) -> tuple[list[int], str | None]:
        """(output token ids so far, finish reason or None) of a request; `forget` drops a
        finished request from the engine afterwards."""
        out = self._call(self._where[request_id], "output", request_id, forget)
        if forget and out[1] is not None:
            del self._where[request_id]
        return out

    def generate(self, prompts_token_ids: Sequence[Sequence[int]], max_tokens: int = 16,
                 greedy: bool = True, ignore_eos: bool = False,
                 switch_at: Mapping[int, int] | None = None, seed: int = 0) -> GenerateResult:
        """Run the prompts to completion on instance 0 (continuous batching).
        `switch_at` {step k: tp}: switch the TP level before step k (counted from 0 in this
        call); switches scheduled past the last step are made after it."""
        rids = [self.add_request(p, max_tokens, greedy, ignore_eos, seed=seed + i)
                for i, p in enumerate(prompts_token_ids)]
        pending = dict(switch_at or {})
        switches, step_s, batch, tps = [], [], [], []
        for k in itertools.count():
            if k in pending:
                switches.append(self.switch_tp(pending.pop(k)))
            if not self.has_unfinished():
                break
            _, secs, size = self.step_timed()
            step_s.append(secs)
            batch.append(size)
            tps.append(self.tp)
        switches += [self.switch_tp(pending[k]) for k in sorted(pending)]
        outs = [self.output(r, forget=True) for r in rids]
        return GenerateResult([o[0] for o in outs], [o[1] for o in outs], switches, step_s,
                              batch, tps)

    def prompt_logits(self, prompts_token_ids: Sequence[Sequence[int]],
                      all_reduce: bool = True, instance: int = 0) -> np.ndarray:
        """Float32 logits [N, vocab] of each prompt's last token (nothing is cached).
        `all_reduce=False` skips the reductions, which is wrong at tp > 1 (for tests)."""
        prompts = [[int(t) for t in p] for p in prompts_token_ids]
        return self._call(instance, "prompt_logits", prompts, all_reduce)

    # -- reconfiguration -----------------------------------------------------------------
    def switch_tp(self, new_tp: int) -> SwitchStats:
        """Change the TP level between steps: weights stay, KV heads of every used block are
        re-split over the new ranks; running requests go on. Tiled: the whole world is
        re-laid (see the class docstring; instance indices change with the level)."""
        if not self._spec.tiled:
            stats = self._call(0, "switch", new_tp)
            self.tp = new_tp
            return stats
        return self._regroup(new_tp)

    def _regroup(self, new_tp: int) -> SwitchStats:
        old_tp, world = self.tp, self.world_size
        if new_tp not in self._spec.tp_levels():
            raise ValueError(f"tp={new_tp} is not one of this world's levels {self._spec.tp_levels()}")
        if new_tp == old_tp:
            return SwitchStats(old_tp, new_tp, 0.0, 0, 0)
        old_leaders = list(range(0, world, old_tp))
        busy = [i for i in self._vanishing(new_tp) if self.has_unfinished(i)]
        if busy:
            raise ValueError(f"instances {busy} would vanish at tp={new_tp} with requests "
                             f"on them: move them first (move_all)")
        for r in old_leaders[1:]:
            self._conns[r].send(("await_control", (), {}))
        self._conns[0].send(("switch", (new_tp,), {}))
        reply = self._receive(0)
        others = [self._receive(r) for r in old_leaders[1:]]
        for msg in (reply, *others):
            _raise_error(msg)
        new_leaders = list(range(0, world, new_tp))
        for r in sorted(set(new_leaders) - set(old_leaders)):
            if self._receive(r)[0] != "ready":
                raise RuntimeError(f"rank {r} did not start its instance")
        self._where = {rid: i * old_tp // new_tp for rid, i in self._where.items()}
        self.tp, self.num_instances = new_tp, world // new_tp
        self._leaders[:] = new_leaders
        return reply[1]

    def _vanishing(self, new_tp: int) -> dict[int, int]:
        """Tiled: {instance that would vanish at `new_tp`: the surviving instance of its
        block of max(tp, new_tp) ranks}."""
        width = max(self.tp, new_tp)
        return {i: i * self.tp // width * width // self.tp
                for i in range(self.num_instances) if i * self.tp % width}

    def vacate(self, new_tp: int) -> list[str]:
        """Tiled: move the requests of every instance that would vanish at `new_tp` onto the
        surviving instance of its block (`move_all`), so that `switch_tp(new_tp)` can run;
        their ids."""
        return [rid for src, dst in self._vanishing(new_tp).items()
                for rid in self.move_all(src, dst)]

    def move_all(self, src: int, dst: int) -> list[str]:
        """Move every request of instance `src` to `dst`: decoding ones with their KV
        (`migrate`), the others (no output yet) re-queued from their prompt; their ids."""
        moved = []
        for rid in [r for r, i in self._where.items() if i == src]:
            if self.output(rid)[1] is not None:
                continue
            try:
                self.migrate(rid, dst)
            except ValueError:
                prompt, max_tokens, greedy, ignore_eos, seed, slo = self._call(src, "take", rid)
                del self._where[rid]
                self.add_request(prompt, max_tokens, greedy, ignore_eos, seed, rid, dst, slo)
            moved.append(rid)
        return moved

    def migrate(self, request_id: str, dst_instance: int) -> MigrationStats:
        """Move a decoding greedy request, KV included, to another instance; it goes on
        there at its next step. ValueError when it cannot move now (not decoding, or no room
        on the destination): it stays where it is."""
        src = self._where[request_id]
        if dst_instance == src or not 0 <= dst_instance < self.num_instances:
            raise ValueError(f"dst_instance {dst_instance}: not another instance")
        self._send(src, "export", request_id, dst_instance)
        self._send(dst_instance, "import", request_id, src)
        export, imported = self._reply(src), self._reply(dst_instance)
        for reply in (export, imported):
            _raise_error(reply)
        self._where[request_id] = dst_instance
        return export[1]

    def inspect(self) -> list[dict[str, Any]]:
        """Per rank: storage pointers of every weight, of the current shard's views and of
        the KV storage, and the KV view's shape (to check that switches copy nothing)."""
        infos = [self._call(i, "inspect") for i in range(self.num_instances)]
        if self.num_instances == 1:
            infos += [self._receive(r)[1] for r in range(1, self.world_size)]
        return sorted(infos, key=lambda info: info["rank"])

    # -- processes -----------------------------------------------------------------------
    def close(self) -> None:
        """Shut the ranks down and wait for them (idempotent; also run when the engine is
        garbage-collected or the interpreter exits)."""
        self._finalizer()

    def __enter__(self) -> TPEngine:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _leader_rank(self, instance: int) -> int:
        if not 0 <= instance < self.num_instances:
            raise ValueError(f"instance {instance} out of range [0, {self.num_instances})")
        return instance * self.tp if self.num_instances > 1 else 0

    def _send(self, instance: int, name: str, *args: Any, **kwargs: Any) -> None:
        if not self._finalizer.alive:
            raise RuntimeError("the engine is closed")
        self._conns[self._leader_rank(instance)].send((name, args, kwargs))

    def _reply(self, instance: int) -> tuple[str, Any]:
        return self._receive(self._leader_rank(instance))

    def _call(self, instance: int, name: str, *args: Any, **kwargs: Any) -> Any:
        self._send(instance, name, *args, **kwargs)
        reply = self._reply(instance)
        _raise_error(reply)
        return reply[1]

    def _receive(self, rank: int) -> tuple[str, Any]:
        """The next message of rank `rank`; on a crash or timeout stop every rank and raise."""
        conn, deadline = self._conns[rank], time.monotonic() + self.timeout_s
        while not conn.poll(0.02):
            dead = [r for r, p in enumerate(self._procs) if p.exitcode is not None]
            if dead or time.monotonic() > deadline:
                why = _fatal_message(self._conns, dead) or f"no answer from rank {rank}"
                self._finalizer()
                raise RuntimeError(f"tensor-parallel engine failed: {why}")
        try:
            msg = conn.recv()
        except EOFError:
            msg = ("fatal", f"rank {rank} closed its pipe")
        if msg[0] == "fatal":
            self._finalizer()
            raise RuntimeError(f"rank {rank} failed:\n{msg[1]}")
        return msg


def _make_spec(model: str | Path | ModelConfig, world_size: int, tp: int, num_instances: int,
               backend: str, init_method: str | None, num_threads: int, timeout_s: float,
               tiled: bool, options: dict[str, Any]) -> tuple[WorkerSpec, str | None]:
    bad = [k for k in _UNSUPPORTED if options.get(k) is not None]
    if bad:
        raise ValueError(f"TPEngine does not support {bad}")
    if isinstance(model, ModelConfig):
        config = EngineConfig.from_kwargs(model_config=model, **options)
    else:
        config = EngineConfig.from_kwargs(model=str(model), **options)
    cfg = config.model_config or ModelConfig.from_pretrained(config.model)  # type: ignore[arg-type]
    if world_size < 1 or num_instances < 1:
        raise ValueError("world_size and num_instances must be >= 1")
    check_tp(cfg, tp)
    if num_instances * tp > world_size or (num_instances > 1 and num_instances * tp != world_size):
        raise ValueError(f"num_instances={num_instances} x tp={tp} must fit world_size="
                         f"{world_size} (exactly, with several instances)")
    tmp = None
    if init_method is None:
        tmp = tempfile.mkdtemp(prefix="tp-engine-")
        init_method = f"file://{tmp}/rendezvous"
    return WorkerSpec(config, cfg, world_size, tp, num_instances, backend, init_method,
                      timeout_s, num_threads, tiled), tmp


def _raise_error(reply: tuple[str, Any]) -> None:
    if reply[0] != "error":
        return
    kind, message, trace = reply[1]
    if kind == "ValueError":
        raise ValueError(message)
    raise RuntimeError(f"{kind}: {message}\n{trace}")


def _fatal_message(conns: list[Any], ranks: list[int]) -> str:
    for r in ranks:
        while conns[r].poll():
            try:
                msg = conns[r].recv()
            except EOFError:
                break
            if msg[0] == "fatal":
                return f"rank {r}:\n{msg[1]}"
    return f"rank(s) {ranks} exited" if ranks else ""


def _stop(procs: list[Any], conns: list[Any], leaders: list[int], tmp: str | None) -> None:
    """Ask the leaders to shut their ranks down, wait briefly for every rank to exit, then
    end the ones still running (stuck after another rank failed)."""
    for rank in leaders:
        with contextlib.suppress(OSError):
            conns[rank].send(("shutdown",))
    deadline = time.monotonic() + 5.0
    for proc in procs:
        proc.join(max(deadline - time.monotonic(), 0.1))
    for proc in procs:
        if proc.is_alive():
            proc.terminate()
            proc.join(5.0)
    for conn in conns:
        conn.close()
    if tmp is not None:
        shutil.rmtree(tmp, ignore_errors=True)
