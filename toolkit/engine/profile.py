"""Profile the real engine on this device into a calibration file the profiled cost model reads.

Usage: python -m toolkit.engine.profile --model DIR|tiny --out FILE.json [--device cpu|cuda]
       [--quick] [--grid-n-new 1,4,16] [--grid-n-cached 0,256] [--grid-batch 1,2]
       [--grid-ctx 16,128] [--threads N] [--temperature 0]

Every number is one whole `LLMEngine.step()` of a synthetic batch: the scheduler and its
policy, KV blocks and the prefix cache, input building, the forward pass, sampling and the
bookkeeping after it, i.e. what one iteration of a real run pays (for a tiny model on a CPU
the fixed Python part is most of it). A point is the median of repeated steps after warm-up
(`s`, `graph_s`/`eager_s`), timed by `time.perf_counter` on a CPU and CUDA events on a GPU;
each row also keeps the mean of the same steps (`mean_s`), which `load_profiled_cost_model`
reads: a run pays the mean, not the median, since its latencies add step times up, the slow
ones included (garbage collection, interrupts, other processes taking the core).

- prefill (n_new, n_cached): a prompt of `n_cached` tokens is cached first (one request run to
  completion), then each repetition prefills that prefix plus `n_new` fresh random tokens in
  one step (the step also samples its first token) and is aborted.
- decode (batch, ctx): `batch` random prompts prefill in one step, then decode steps run; the
  prompt length centres the timed steps' cached context on `ctx`. On CUDA the engine's graph
  replay (`graph_s`) and eager steps (`eager_s`, graphs switched off) alternate; elsewhere
  both columns hold the eager time.
- mixed: a few decode batches with one prefill beside them, to check how a cost model adds
  parts up (`load_profiled_cost_model` fits a correction to them).
- wake: what a request arriving at an idle engine pays beyond the step the cost model prices:
  the wait for the arrival as the in-process replay driver waits (`time.sleep` in slices of at
  most 50 ms), `add_request` (admission: block hashes, records), and the step itself running
  cold after `idle_s` of idleness; `extra_s` is that path's time from the arrival to the end
  of the step minus the same step run back to back. The row with `idle_s = 0` is admission
  alone (the request arrives right after the previous step).

The file has the layout of `../shared/calibration/h200_llama_profile.json` plus, per model
entry, its `spec` (a `toolkit.cost.specs.ModelSpec` as a dict). Build a cost model from it
with `load_profiled_cost_model(path)`, or `register_profile(path)` first to reach it by name
through `toolkit.cost.factory.make_cost_model`.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
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


def model_spec_dict(cfg: Any, name: str, dtype_bytes: int) -> dict[str, Any]:
    """`toolkit.cost.specs.ModelSpec` fields of an engine `ModelConfig`, as a dict."""
    return dict(name=name, num_layers=cfg.num_hidden_layers, hidden_size=cfg.hidden_size,
                num_heads=cfg.num_attention_heads, num_kv_heads=cfg.num_key_value_heads,
                head_dim=cfg.head_dim, ffn_size=cfg.intermediate_size,
                vocab_size=cfg.vocab_size, dtype_bytes=dtype_bytes, gated_mlp=True,
                tied_embeddings=bool(cfg.tie_word_embeddings))


def device_label(device: Any) -> str:
    """'cpu (<processor>)' or the CUDA device name, as `info.device` of the file."""
    import torch

    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    name = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                name = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"cpu ({name}, {os.cpu_count()} cores)"


def measure_ceilings(device: Any, dtype: Any) -> dict[str, float]:
    """Device copy bandwidth (bytes read + written) and matmul throughput, briefly measured."""
    import torch

    def best_s(fn: Callable[[], Any], reps: int = 5) -> float:
        fn()
        out = []
        for _ in range(reps):
            if device.type == "cuda":
                torch.cuda.synchronize()
            start = time.perf_counter()
            fn()
            if device.type == "cuda":
                torch.cuda.synchronize()
            out.append(time.perf_counter() - start)
        return min(out)

    src = torch.empty(16 * 2**20, dtype=torch.float32, device=device)
    dst = torch.empty_like(src)
    copy_s = best_s(lambda: dst.copy_(src))
    n = 4096 if device.type == "cuda" else 512
    a = torch.randn(n, n, dtype=dtype, device=device)
    mm_s = best_s(lambda: a @ a)
    return {"d2d_copy_GBps": 2 * src.numel() * 4 / copy_s / 1e9,
            "matmul_TFLOPs": 2 * n**3 / mm_s / 1e12, "matmul_n": float(n)}


def resolve_model_dir(model: str) -> Path:
    """'tiny' builds (once) and names the tiny test model; anything else is a folder."""
    if model == "tiny":
        from toolkit.engine.tiny import build_tiny_model

        return build_tiny_model()
    path = Path(model)
    if not (path / "config.json").is_file():
        raise SystemExit(f"--model: no config.json in {path}")
    return path


def build_engine(model_dir: Path, device: str, s: ProfileSettings) -> Any:
    """An engine whose one step can prefill every grid point and hold every decode batch."""
    from toolkit.engine.config import EngineConfig, ModelConfig
    from toolkit.engine.engine import LLMEngine

    cfg = ModelConfig.from_pretrained(model_dir)
    steps = 2 * s.decode_repeats + s.decode_warmup + s.warmup + s.repeats + 4
    decode_tokens = max(b * (c + steps + s.block_size) for b in s.batch for c in s.ctx)
    mixed_tokens = max((b * (c + steps + s.block_size) + n for b, c, n in s.mixed), default=0)
    prefill_tokens = max(s.n_cached) + max(s.n_new) + 2 * s.block_size
    biggest = max(decode_tokens, mixed_tokens, prefill_tokens)
    kw = dict(model=str(model_dir), device=device, seed=s.seed, block_size=s.block_size,
              num_kv_blocks=-(-2 * biggest // s.block_size), chunk_size=biggest,
              max_prefill_tokens=biggest,
              max_num_seqs=max(max(s.batch), *(b + 1 for b, _, _ in s.mixed)),
              max_model_len=cfg.max_position_embeddings, scheduler="fcfs")
    return LLMEngine(EngineConfig.from_kwargs(**{**kw, **s.engine_kwargs}))


def profile_engine(engine: Any, s: ProfileSettings, name: str,
                   log: Callable[[str], None] = print) -> dict[str, Any]:
    """One `models[]` entry: the prefill, decode and mixed tables of `engine`."""
    start = time.perf_counter()
    probe, limit = EngineProbe(engine, s), engine.max_model_len
    prefill = []
    for n_cached in s.n_cached:
        prefix = probe.cache_prefix(n_cached)
        for n_new in s.n_new:
            if n_cached + n_new + 2 <= limit:
                t, mean = median_mean(probe.prefill_times(prefix, n_new))
                prefill.append(dict(n_new=n_new, n_cached=n_cached, s=t, mean_s=mean))
                log(f"prefill n_new={n_new:5d} n_cached={n_cached:5d}  {t * 1e3:8.3f} ms"
                    f"  (mean {mean * 1e3:.3f})")
    decode = []
    for batch in s.batch:
        for ctx in s.ctx:
            if ctx + 2 * s.decode_repeats + 2 <= limit:
                times = probe.decode_times(batch, ctx)
                graph_s, mean = median_mean(times[True])
                eager_s = statistics.median(times[False]) if False in times else graph_s
                decode.append(dict(batch=batch, ctx=ctx, graph_s=graph_s, eager_s=eager_s,
                                   mean_s=mean))
                log(f"decode  batch={batch:5d} ctx={ctx:5d}       {graph_s * 1e3:8.3f} ms"
                    f"  (mean {mean * 1e3:.3f})")
    mixed = []
    for batch, ctx, n_new in s.mixed:
        t, mean = median_mean(probe.mixed_times(batch, ctx, n_new))
        mixed.append(dict(batch=batch, ctx=ctx, n_new=n_new, n_cached=0, s=t, mean_s=mean))
        log(f"mixed   batch={batch:5d} ctx={ctx:5d} n_new={n_new:4d} {t * 1e3:8.3f} ms"
            f"  (mean {mean * 1e3:.3f})")
    wake = measure_wake(probe, s, log)
    dtype_bytes = next(engine.runner.model.parameters()).element_size()
    return dict(model=name, tp=1, layers=engine.model_config.num_hidden_layers,
                prefill=prefill, decode=decode, mixed=mixed, wake=wake,
                spec=model_spec_dict(engine.model_config, name, dtype_bytes),
                wall_s=time.perf_counter() - start)


def median_mean(times: Sequence[float]) -> tuple[float, float]:
    """(median, mean) of repeated timings."""
    return statistics.median(times), statistics.fmean(times)


WAKE_IDLE_S = (0.0, 0.005, 0.02, 0.1, 0.5)
"""Idle gaps before the arrival probes: the first step after idleness runs slower (cold CPU
caches and power states; on a GPU, clocks ramping up), and the driver wakes up late."""


def measure_wake(probe: EngineProbe, s: ProfileSettings,
                 log: Callable[[str], None] = print) -> list[dict[str, float]]:
    """`wake[]` rows: extra seconds from the arrival of a request (a 64-token prefill over 256
    cached) at an engine idle for each gap to the end of its step, against the step alone run
    back to back (what the cost model prices): the driver's wake-up, admission and a cold
    step."""
    prefix = probe.cache_prefix(256)
    busy = probe.prefill_s(prefix, 64)
    rows = []
    for idle_s in WAKE_IDLE_S:
        extra = max(0.0, probe.arrival_s(prefix, 64, idle_s) - busy)
        rows.append(dict(idle_s=idle_s, extra_s=extra))
        log(f"wake    idle={idle_s * 1e3:6.1f} ms               +{extra * 1e3:7.3f} ms")
    return rows


PROFILE_VERSION = 2
"""Bumped when what a profile measures changes (2: `mean_s` per row; arrival-path wake rows
with an `idle_s = 0` admission row). Files without it are version 1."""


def run_profile(model: str, out: str | Path, device: str = "cpu",
                settings: ProfileSettings | None = None, name: str | None = None,
                threads: int | None = None, log: Callable[[str], None] = print
                ) -> dict[str, Any]:
    """Profile `model` ('tiny' or a folder) on `device`, write the file to `out`, return it."""
    import torch

    s = settings or ProfileSettings()
    if threads:
        torch.set_num_threads(threads)
    model_dir = resolve_model_dir(model)
    engine = build_engine(model_dir, device, s)
    name = name or model_dir.name.lower()
    dev, dtype = engine.runner.device, engine.runner.dtype
    info = dict(profile_version=PROFILE_VERSION, device=device_label(dev),
                torch=torch.__version__, dtype=str(dtype),
                model=name, model_dir=str(model_dir), torch_threads=torch.get_num_threads(),
                temperature=s.temperature, block_size=s.block_size,
                timer="cuda events" if dev.type == "cuda" else "time.perf_counter",
                warmup=s.warmup, repeats=s.repeats, decode_warmup=s.decode_warmup,
                decode_repeats=s.decode_repeats,
                cuda_graphs=engine.runner.graphs is not None,
                date=time.strftime("%Y-%m-%d %H:%M:%S"))
    result = dict(info=info, ceilings=measure_ceilings(dev, dtype),
                  models=[profile_engine(engine, s, name, log)])
    path = Path(out)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result, indent=1) + "\n")
    return result


def device_spec(profile: dict[str, Any]) -> Any:
    """The `GpuSpec` whose name `ProfiledCostModel` matches against `info.device`: a known
    GPU when the device names one, else a spec named 'cpu' (or the device's first word)
    with the measured copy bandwidth and matmul rate."""
    from toolkit.cost.specs import GPUS, GpuSpec

    device = str(profile.get("info", {}).get("device", "")).lower()
    for key, gpu in GPUS.items():
        if key in device:
            return gpu
    ceil = profile.get("ceilings", {})
    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") if hasattr(
        os, "sysconf") else 0
    return GpuSpec((device.split() or ["cpu"])[0], int(memory),
                   ceil.get("d2d_copy_GBps", 0.0) * 1e9 / 2,
                   ceil.get("matmul_TFLOPs", 0.0) * 1e12, 0.0, 0.0)


def load_profiled_cost_model(path: str | Path, tp: int = 1, model: str | None = None,
                             mixed_correction: bool = True, use_mean: bool = True) -> Any:
    """`ProfiledCostModel` of a profile written here (its first model unless `model`); with
    `mixed_correction`, its measured mixed iterations correct prefill+decode batches and the
    first iteration after idleness pays the measured arrival path (`wake[]`). `use_mean`
    prices steps by each point's mean (`mean_s`, where the file has it) instead of its
    median: what a run's latencies add up."""
    from toolkit.cost.mixed_fit import MixedCorrectedCostModel, fit_mixed_residual
    from toolkit.cost.profiled import ProfiledCostModel
    from toolkit.cost.specs import ModelSpec

    profile = json.loads(Path(path).read_text())
    entries = [e for e in profile["models"] if model is None or e["model"] == model]
    if not entries:
        raise ValueError(f"{path}: no model {model!r}")
    spec = ModelSpec(**entries[0]["spec"])
    base = ProfiledCostModel(spec, tp, device_spec(profile), calibration_path=str(path),
                             use_graph_prefill=False, use_mean=use_mean)
    rows, wake = entries[0].get("mixed", []), entries[0].get("wake", [])
    if not mixed_correction or not (rows or wake):
        return base
    if use_mean:
        rows = [dict(r, s=r.get("mean_s", r["s"])) for r in rows]
    return MixedCorrectedCostModel(base, *fit_mixed_residual(base, rows), wake=wake)


def register_profile(path: str | Path) -> tuple[str, str]:
    """Add the file's model specs and device to `toolkit.cost.specs` (names already known
    are kept), so `make_cost_model('profiled', model, gpu, calibration_path=path)` finds
    them; returns (model name, gpu name)."""
    from toolkit.cost.specs import GPUS, MODELS, ModelSpec

    profile = json.loads(Path(path).read_text())
    for entry in profile["models"]:
        MODELS.setdefault(entry["model"], ModelSpec(**entry["spec"]))
    gpu = device_spec(profile)
    GPUS.setdefault(gpu.name, gpu)
    return profile["models"][0]["model"], gpu.name


def _ints(text: str) -> tuple[int, ...]:
    return tuple(int(x) for x in text.split(",") if x.strip())


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m toolkit.engine.profile",
                                description=__doc__.splitlines()[0])
    p.add_argument("--model", default="tiny", help="model folder, or 'tiny'")
    p.add_argument("--out", required=True, help="calibration JSON to write")
    p.add_argument("--device", default="cpu", help="cpu, cuda, cuda:1, ...")
    p.add_argument("--name", help="model name in the file (default: the folder's name)")
    p.add_argument("--quick", action="store_true", help="small grid, few repetitions")
    for axis in ("n-new", "n-cached", "batch", "ctx"):
        p.add_argument(f"--grid-{axis}", type=_ints, help="comma-separated values")
    p.add_argument("--repeats", type=int, help="timed repetitions per prefill point")
    p.add_argument("--decode-repeats", type=int, help="timed steps per decode point")
    p.add_argument("--threads", type=int, help="torch.set_num_threads (default: torch's)")
    p.add_argument("--temperature", type=float, default=0.0, help="0 = greedy sampling")
    p.add_argument("--block-size", type=int, default=16)
    p.add_argument("--seed", type=int, default=0)
    return p.parse_args(argv)


def settings_from_args(args: argparse.Namespace) -> ProfileSettings:
    """`ProfileSettings` from the command line (`--grid-*` override the chosen grid)."""
    kw: dict[str, Any] = dict(temperature=args.temperature, block_size=args.block_size,
                              seed=args.seed)
    for axis in ("n_new", "n_cached", "batch", "ctx"):
        if getattr(args, f"grid_{axis}"):
            kw[axis] = getattr(args, f"grid_{axis}")
    if args.repeats:
        kw["repeats"] = args.repeats
    if args.decode_repeats:
        kw["decode_repeats"] = args.decode_repeats
    return ProfileSettings.quick(**kw) if args.quick else ProfileSettings(**kw)


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv)
    start = time.perf_counter()
    result = run_profile(args.model, args.out, args.device, settings_from_args(args),
                         args.name, args.threads)
    entry = result["models"][0]
    print(f"wrote {args.out}: {entry['model']} on {result['info']['device']}, "
          f"{len(entry['prefill'])} prefill + {len(entry['decode'])} decode points "
          f"in {time.perf_counter() - start:.1f} s")


if __name__ == "__main__":
    main()

