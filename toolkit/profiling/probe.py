"""The engine profiler's grid and its probe: one `LLMEngine` driven through synthetic batches,
single steps timed (see `toolkit.profiling.profile` for what each table measures)."""

from __future__ import annotations

import random
import statistics
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

FULL_GRID = dict(n_new=(1, 4, 16, 64, 128, 256, 512), n_cached=(0, 256, 1024),
                 batch=(1, 2, 4, 8, 16, 32), ctx=(16, 128, 512, 1024))
QUICK_GRID = dict(n_new=(1, 16, 128), n_cached=(0, 256), batch=(1, 4, 16), ctx=(16, 256))
MIXED = tuple((b, c, n) for b in (1, 4, 16, 32) for c in (128, 512) for n in (16, 256))
"""(decode batch, decode ctx, n_new of the prefill beside it) of the `mixed` check rows."""


@dataclass
class ProfileSettings:
    """What to measure and how often. `warmup`/`repeats` are per point (decode: steps)."""

    n_new: Sequence[int] = FULL_GRID["n_new"]
    n_cached: Sequence[int] = FULL_GRID["n_cached"]
    batch: Sequence[int] = FULL_GRID["batch"]
    ctx: Sequence[int] = FULL_GRID["ctx"]
    mixed: Sequence[tuple[int, int, int]] = MIXED
    warmup: int = 2
    repeats: int = 11
    decode_warmup: int = 3
    decode_repeats: int = 15
    temperature: float = 0.0
    block_size: int = 16
    seed: int = 0
    engine_kwargs: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def quick(cls, **kw: Any) -> ProfileSettings:
        """A small grid with few repetitions (seconds on a CPU)."""
        base = dict(QUICK_GRID, mixed=((4, 128, 64),), warmup=1, repeats=3, decode_warmup=2,
                    decode_repeats=5)
        return cls(**{**base, **kw})


class EngineProbe:
    """Drives one `LLMEngine` through synthetic batches and times single steps."""

    def __init__(self, engine: Any, settings: ProfileSettings) -> None:
        import torch

        self.engine, self.s, self.torch = engine, settings, torch
        self.rng = random.Random(settings.seed)
        self.vocab = engine.model_config.vocab_size
        self.cuda = engine.runner.device.type == "cuda"

    def tokens(self, n: int) -> list[int]:
        """`n` random ids above the special ones (fresh prompts never hit the cache)."""
        return [self.rng.randrange(3, self.vocab) for _ in range(n)]

    def params(self, max_tokens: int) -> Any:
        from toolkit.engine.sampling import SamplingParams

        seed = self.rng.randrange(2**31) if self.s.temperature > 0 else None
        return SamplingParams(temperature=self.s.temperature, max_tokens=max_tokens,
                              ignore_eos=True, seed=seed)

    def timed_step(self) -> float:
        """Seconds of one `engine.step()` (CUDA events around it on a GPU)."""
        if not self.cuda:
            start = time.perf_counter()
            self.engine.step()
            return time.perf_counter() - start
        cuda = self.torch.cuda
        cuda.synchronize()
        begin, end = cuda.Event(enable_timing=True), cuda.Event(enable_timing=True)
        begin.record()
        self.engine.step()
        end.record()
        end.synchronize()
        return begin.elapsed_time(end) / 1e3

    def finish(self, rids: Sequence[str]) -> None:
        for rid in rids:
            self.engine.abort_request(rid)
        self.engine.take_records()

    def cache_prefix(self, n_cached: int) -> list[int]:
        """A random prompt of `n_cached` tokens, run once so that the prefix cache holds it."""
        prefix = self.tokens(n_cached)
        if n_cached:
            self.engine.kv.reserve(n_cached + 2 * self.s.block_size)
            self.engine.add_request(prefix + self.tokens(1), self.params(1))
            while self.engine.has_unfinished():
                self.engine.step()
            self.engine.take_records()
        return prefix

    def prefill_s(self, prefix: list[int], n_new: int) -> float:
        """Median seconds of a step prefilling `n_new` tokens over the cached `prefix`."""
        return statistics.median(self.prefill_times(prefix, n_new))

    def prefill_times(self, prefix: list[int], n_new: int) -> list[float]:
        """Seconds of each timed step prefilling `n_new` tokens over the cached `prefix`."""
        times = []
        for i in range(self.s.warmup + self.s.repeats):
            self.engine.kv.reserve(n_new + 2 * self.s.block_size)
            rid = self.engine.add_request(prefix + self.tokens(n_new), self.params(2))
            elapsed = self.timed_step()
            cached = self.engine.records[rid].num_cached_tokens
            if cached != len(prefix):
                raise RuntimeError(f"expected {len(prefix)} cached tokens, got {cached}")
            self.finish([rid])
            if i >= self.s.warmup:
                times.append(elapsed)
        return times

    def arrival_s(self, prefix: list[int], n_new: int, idle_s: float) -> float:
        """Median seconds from a request's arrival to the end of its first step (a prefill of
        `n_new` tokens over the cached `prefix`), the engine idle for `idle_s` before it:
        the driver's wait for the arrival, `add_request` and the step."""
        times = []
        for _ in range(self.s.repeats):
            self.engine.kv.reserve(n_new + 2 * self.s.block_size)
            prompt = prefix + self.tokens(n_new)
            arrival = time.perf_counter() + idle_s
            while (now := time.perf_counter()) < arrival:  # as `replay_inprocess` waits
                time.sleep(min(arrival - now, 0.05))
            rid = self.engine.add_request(prompt, self.params(2))
            self.engine.step()
            if self.cuda:
                self.torch.cuda.synchronize()
            times.append(time.perf_counter() - arrival)
            self.finish([rid])
        return statistics.median(times)

    def start_decodes(self, batch: int, prompt_len: int, num_steps: int) -> list[str]:
        """Add `batch` prompts and prefill them (one step); return their request ids."""
        self.engine.kv.reserve(batch * (prompt_len + num_steps + 2 * self.s.block_size))
        rids = [self.engine.add_request(self.tokens(prompt_len), self.params(num_steps + 2))
                for _ in range(batch)]
        for _ in range(batch + 1):
            if len(self.engine.scheduler.decoding) == batch:
                return rids
            self.engine.step()
        raise RuntimeError(f"{batch} prompts of {prompt_len} tokens did not all start decoding")

    def decode_s(self, batch: int, ctx: int) -> tuple[float, float]:
        """(graph_s, eager_s): median seconds of a decode step of `batch` sequences whose
        cached context averages `ctx` over the timed steps (equal off CUDA)."""
        times = self.decode_times(batch, ctx)
        graph_s = statistics.median(times[True])
        return graph_s, statistics.median(times[False]) if False in times else graph_s

    def decode_times(self, batch: int, ctx: int) -> dict[bool, list[float]]:
        """Seconds of each timed decode step (see `decode_s`), by graph mode (True: graphs
        on, or the only mode off CUDA)."""
        warm, reps = self.s.decode_warmup, self.s.decode_repeats
        modes = (True, False) if self.cuda and self.engine.runner.graphs is not None else (True,)
        steps = warm + reps * len(modes)
        prompt_len = max(1, ctx - warm - (steps - warm - 1) // 2)
        rids = self.start_decodes(batch, prompt_len, steps)
        graphs, times = self.engine.runner.graphs, {m: [] for m in modes}
        try:
            for i in range(steps):
                mode = modes[i % len(modes)]
                self.engine.runner.graphs = graphs if mode else None
                elapsed = self.timed_step()
                if i >= warm:
                    times[mode].append(elapsed)
        finally:
            self.engine.runner.graphs = graphs
        self.finish(rids)
        return times

    def mixed_s(self, batch: int, ctx: int, n_new: int) -> float:
        """Median seconds of a step with `batch` decodes (context ~`ctx`) and one prefill of
        `n_new` fresh tokens."""
        return statistics.median(self.mixed_times(batch, ctx, n_new))

    def mixed_times(self, batch: int, ctx: int, n_new: int) -> list[float]:
        """Seconds of each timed step of `mixed_s`."""
        reps = self.s.warmup + self.s.repeats
        prompt_len = max(1, ctx - reps // 2)
        rids = self.start_decodes(batch, prompt_len, reps + 1)
        times = []
        for i in range(reps):
            self.engine.kv.reserve(n_new + 2 * self.s.block_size)
            rid = self.engine.add_request(self.tokens(n_new), self.params(2))
            elapsed = self.timed_step()
            self.finish([rid])
            if i >= self.s.warmup:
                times.append(elapsed)
        self.finish(rids)
        return times
