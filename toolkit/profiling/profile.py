"""Profile the real engine on this device into a calibration file the profiled cost model reads.

Usage: python -m toolkit.profiling.profile --model DIR|tiny --out FILE.json [--device cpu|cuda]
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
with `toolkit.cost.engine_profile.load_profiled_cost_model(path)`, or `register_profile(path)`
first to reach it by name through `toolkit.cost.factory.make_cost_model` (both re-exported
here). The grid and the probe that drives the engine live in `toolkit.profiling.probe`.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from toolkit.cost.engine_profile import device_spec, load_profiled_cost_model, register_profile
from toolkit.profiling.probe import FULL_GRID, MIXED, QUICK_GRID, EngineProbe, ProfileSettings

__all__ = ["FULL_GRID", "MIXED", "PROFILE_VERSION", "QUICK_GRID", "EngineProbe",
           "ProfileSettings", "device_spec", "load_profiled_cost_model", "profile_engine",
           "register_profile", "run_profile"]


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
              max_model_len=cfg.max_position_embeddings)
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


def _ints(text: str) -> tuple[int, ...]:
    return tuple(int(x) for x in text.split(",") if x.strip())


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m toolkit.profiling.profile",
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

