"""Batch-1 decode of a Llama-3-8B-shaped model through the toolkit's engine, against the HBM
roofline (weights plus KV bytes over the memory bandwidth).

    python benchmarks/bench_gpu_decode.py --out benchmarks/results/gpu_decode_h200.json
    python benchmarks/bench_gpu_decode.py --contexts 512,4096 --steps 30 --out FILE.json
    python benchmarks/bench_gpu_decode.py --tiny --out /tmp/x.json   # CPU smoke test, seconds

It builds the real engine (`LLMEngine`: scheduler, paged KV blocks, `ModelRunner`, CUDA graph
of batch 1, the Triton kernels of `kernels/` on CUDA) with random bf16 weights of Llama-3-8B's
shape (32 layers, hidden 4096, 32 heads, 8 KV heads, intermediate 14336, vocab 128256; drawn on
the device, not on the CPU as the loader does, which would take a minute), then for each
context length prefills one prompt and times decode steps at batch 1:

- `forward_graph_ms` / `forward_eager_ms`: the first decode step's forward pass plus the LM
  head (`ModelRunner.forward_logits`, `seq_len` = ctx + 1 tokens in the cache), repeated back
  to back from the same inputs, through the captured CUDA graph and eagerly; the mean over
  `--reps` passes, median of 3 trials (CUDA events). `decode_ms` is the graph figure when a
  graph was captured, else the eager one.
- `step_graph_ms` / `step_eager_ms`: whole `LLMEngine.step()` calls after those (scheduling,
  input building, forward, sampling, bookkeeping), median of `--steps` each; the context
  grows by one token a step, up to `step_seq_len_last`.
- `bytes_per_token`: weights read once (every parameter except the embedding table, of which
  one row is read) plus the K and V of every cached token (`seq_len`, the new one included);
  `roofline_ms` = bytes / the data-sheet HBM bandwidth (`toolkit.cost.specs.GPUS`: H200
  4.8 TB/s, H100 SXM 3.35 TB/s, picked from the device name), `roofline_copy_ms` = bytes /
  the device-to-device copy rate measured here (bytes read + written);
  `ratio` = decode_ms / roofline_ms and `within_1_5x` = ratio <= 1.5 (the issue's target).

The JSON (`--out`, rewritten after each context so a timeout keeps what was done) also holds
the device, versions, autotuned Triton configs, prefill time of each prompt and the toolkit
roofline cost model's prediction. Without CUDA it runs on the CPU (use `--tiny` there).
"""

from __future__ import annotations

import argparse
import json
import platform
import re
import statistics
import subprocess
import sys
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any
from unittest import mock

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "kernels"))  # llmserve_kernels
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from toolkit.engine import loader  # noqa: E402
from toolkit.engine.config import EngineConfig, ModelConfig  # noqa: E402
from toolkit.engine.engine import LLMEngine  # noqa: E402
from toolkit.engine.sampling import SamplingParams  # noqa: E402

LLAMA3_8B = dict(vocab_size=128256, hidden_size=4096, intermediate_size=14336,
                 num_hidden_layers=32, num_attention_heads=32, num_key_value_heads=8,
                 head_dim=128, rope_theta=500000.0, rms_norm_eps=1e-5)
TINY = dict(vocab_size=512, hidden_size=128, intermediate_size=256, num_hidden_layers=2,
            num_attention_heads=4, num_key_value_heads=2, head_dim=32)
TARGET_RATIO = 1.5
BLOCK_SIZE = 16


def model_config(tiny: bool, max_len: int) -> ModelConfig:
    shape = TINY if tiny else LLAMA3_8B
    return ModelConfig(**shape, max_position_embeddings=max(8192, max_len), dtype="bfloat16")


def init_random_on_device(model: torch.nn.Module, seed: int) -> None:
    """The loader's random init (normal(0, initializer_range), unit norms), drawn on the
    model's device: seconds for 8B parameters instead of a minute on the CPU."""
    std = model.config.initializer_range
    with torch.no_grad():
        for i, (name, param) in enumerate(model.named_parameters()):
            if name.endswith("norm.weight"):
                param.fill_(1.0)
            else:
                gen = torch.Generator(device=param.device).manual_seed(seed + i)
                param.normal_(0.0, std, generator=gen)


def build_engine(cfg: ModelConfig, device: torch.device, max_ctx: int, max_tokens: int,
                 eager: bool) -> LLMEngine:
    """An engine whose one step prefills `max_ctx` tokens, with a batch-1 CUDA graph."""
    max_len = max_ctx + max_tokens + 4 * BLOCK_SIZE
    config = EngineConfig(
        model_config=cfg, dtype="bfloat16", device=str(device), seed=0, block_size=BLOCK_SIZE,
        num_kv_blocks=2 * (-(-max_len // BLOCK_SIZE)) + 8, enable_prefix_caching=False,
        chunk_size=max_len, max_prefill_tokens=max_len, max_num_seqs=4, max_model_len=max_len,
        enforce_eager=eager, cuda_graph_batch_sizes=(1,))
    if device.type != "cuda":
        return LLMEngine(config)
    with mock.patch.object(loader, "init_random_weights", init_random_on_device):
        return LLMEngine(config)


class Timer:
    """Milliseconds of `fn()`: CUDA events on a GPU, `perf_counter` elsewhere."""

    def __init__(self, device: torch.device) -> None:
        self.cuda = device.type == "cuda"

    def ms(self, fn: Callable[[], Any]) -> float:
        if not self.cuda:
            start = time.perf_counter()
            fn()
            return (time.perf_counter() - start) * 1e3
        torch.cuda.synchronize()
        begin, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        begin.record()
        fn()
        end.record()
        end.synchronize()
        return begin.elapsed_time(end)


def weight_read_bytes(model: torch.nn.Module) -> int:
    """Bytes of weights one decode token reads: every distinct parameter once, except the
    embedding table, of which one row is read (unless the LM head shares it)."""
    embed = model.model.embed_tokens.weight
    seen, total = set(), 0
    for param in model.parameters():
        if param.data_ptr() in seen:
            continue
        seen.add(param.data_ptr())
        total += param.numel() * param.element_size()
    if embed.data_ptr() != model.lm_head.weight.data_ptr():
        total -= (embed.shape[0] - 1) * embed.shape[1] * embed.element_size()
    return total


def copy_bandwidth(device: torch.device, timer: Timer) -> float:
    """Device copy rate in bytes/s, counting bytes read plus written (best of 5)."""
    numel = (1 << 28) if device.type == "cuda" else (1 << 23)  # 1 GiB / 32 MiB of float32
    src = torch.randn(numel, device=device)
    dst = torch.empty_like(src)
    dst.copy_(src)
    best = min(timer.ms(lambda: dst.copy_(src)) for _ in range(5))
    return 2 * numel * 4 / (best / 1e3)


def datasheet_bandwidth(device_name: str) -> tuple[float | None, str]:
    """(HBM bytes/s, the spec used) from the device name; None for unknown devices."""
    from toolkit.cost.specs import GPUS

    name = device_name.lower()
    if "h100" in name and "pcie" in name:
        return 2.0e12, "h100-pcie (data sheet 2.0 TB/s)"
    if "h100" in name and "nvl" in name:
        return 3.9e12, "h100-nvl (data sheet 3.9 TB/s)"
    if "a100" in name and "40gb" in name:
        return 1.555e12, "a100-40gb (data sheet 1.555 TB/s)"
    for key, gpu in GPUS.items():
        if re.search(rf"\b{re.escape(key)}\b", name):  # "gh200" is not an "h200"
            return gpu.hbm_bytes_per_s, f"{key} (toolkit.cost.specs.GPUS)"
    return None, "unknown device: no data-sheet bandwidth"


def cost_model_ms(cfg: ModelConfig, device_name: str, seq_len: int) -> float | None:
    """The toolkit roofline cost model's batch-1 decode time, for a GPU it knows."""
    try:
        from toolkit.cost.base import BatchShape
        from toolkit.cost.roofline import RooflineCostModel
        from toolkit.cost.specs import GPUS, ModelSpec
        from toolkit.profiling.profile import model_spec_dict

        gpu = next((g for k, g in GPUS.items() if k in device_name.lower()), None)
        if gpu is None:
            return None
        spec = ModelSpec(**model_spec_dict(cfg, "bench", 2))
        return RooflineCostModel(spec, gpu).iteration_s(BatchShape((), (), 1, seq_len - 1)) * 1e3
    except Exception:  # noqa: BLE001 - a side number; never fail the benchmark for it
        return None


def start_decode(engine: LLMEngine, ctx: int, max_tokens: int, timer: Timer, seed: int
                 ) -> tuple[str, float]:
    """Add a random prompt of `ctx` tokens and prefill it in one timed step."""
    gen = torch.Generator().manual_seed(seed)
    prompt = torch.randint(3, engine.model_config.vocab_size, (ctx,), generator=gen).tolist()
    params = SamplingParams(temperature=0.0, max_tokens=max_tokens, ignore_eos=True)
    rid = engine.add_request(prompt, params)
    prefill_ms = timer.ms(engine.step)
    if len(engine.scheduler.decoding) != 1:
        raise RuntimeError(f"a prompt of {ctx} tokens did not prefill in one step")
    return rid, prefill_ms


def time_steps(engine: LLMEngine, graphs: Any, n: int, timer: Timer) -> list[float]:
    """Milliseconds of `n` engine steps, with the runner's graphs set to `graphs`."""
    engine.runner.graphs = graphs
    return [timer.ms(engine.step) for _ in range(n)]


def time_forward(engine: LLMEngine, graphs: Any, reps: int, timer: Timer) -> dict[str, Any]:
    """Mean ms of `reps` back-to-back decode forwards of the next step (median of 3 trials)."""
    runner = engine.runner
    plan = engine.scheduler.schedule()
    inputs = runner.prepare(plan)
    runner.graphs = graphs

    def loop() -> None:
        with torch.inference_mode():
            for _ in range(reps):
                runner.forward_logits(inputs, decode_batch=1)

    loop()  # warm-up
    trials = [timer.ms(loop) / reps for _ in range(3)]
    with torch.inference_mode():
        logits = runner.forward_logits(inputs, decode_batch=1)
    tokens = runner.run(plan)  # finish the step the engine's way
    engine.scheduler.postprocess(plan, tokens)
    return dict(ms=statistics.median(trials), trials_ms=trials,
                seq_len=int(inputs.meta.seq_lens[0]), logits_finite=bool(logits.isfinite().all()))


def bench_context(engine: LLMEngine, ctx: int, args: argparse.Namespace, timer: Timer,
                  bandwidths: dict[str, Any]) -> dict[str, Any]:
    graphs = engine.runner.graphs
    rid, prefill_ms = start_decode(engine, ctx, 2 * args.steps + 16, timer, seed=ctx)
    row: dict[str, Any] = dict(ctx=ctx, prefill_ms=prefill_ms)
    try:
        modes = {"graph": graphs, "eager": None} if graphs is not None else {"eager": None}
        for mode, g in modes.items():
            fwd = time_forward(engine, g, args.reps, timer)
            row[f"forward_{mode}_ms"] = fwd["ms"]
            row[f"forward_{mode}_trials_ms"] = fwd["trials_ms"]
            row.setdefault("seq_len", fwd["seq_len"])
            row["logits_finite"] = row.get("logits_finite", True) and fwd["logits_finite"]
        for mode, g in modes.items():
            time_steps(engine, g, 3, timer)  # warm-up
            row[f"step_{mode}_ms"] = statistics.median(time_steps(engine, g, args.steps, timer))
        row["step_seq_len_last"] = int(engine.scheduler.decoding[0].num_tokens)
    finally:
        engine.runner.graphs = graphs
        engine.abort_request(rid)
        engine.take_records()
    return add_roofline(row, engine, bandwidths)


def add_roofline(row: dict[str, Any], engine: LLMEngine, bw: dict[str, Any]) -> dict[str, Any]:
    cfg = engine.model_config
    kv_per_token = 2 * cfg.num_hidden_layers * cfg.num_key_value_heads * cfg.head_dim * 2
    row["weight_bytes"] = weights = bw["weight_read_bytes"]
    row["kv_bytes"] = kv = row["seq_len"] * kv_per_token
    row["bytes_per_token"] = total = weights + kv
    row["decode_ms"] = row.get("forward_graph_ms", row["forward_eager_ms"])
    row["decode_mode"] = "graph" if "forward_graph_ms" in row else "eager"
    row["roofline_copy_ms"] = total / bw["copy_bytes_per_s"] * 1e3
    row["ratio_copy"] = row["decode_ms"] / row["roofline_copy_ms"]
    if bw["datasheet_bytes_per_s"]:
        row["roofline_ms"] = total / bw["datasheet_bytes_per_s"] * 1e3
        row["ratio"] = row["decode_ms"] / row["roofline_ms"]
        row["step_ratio"] = row.get("step_graph_ms", row["step_eager_ms"]) / row["roofline_ms"]
        row["within_1_5x"] = row["ratio"] <= TARGET_RATIO
    row["cost_model_roofline_ms"] = cost_model_ms(cfg, bw["device"], row["seq_len"])
    return row


def autotuned_configs() -> dict[str, str]:
    """The config each autotuned Triton kernel picked (empty off CUDA)."""
    out = {}
    for op in ("paged_decode", "prefix_extend"):
        mod = sys.modules.get(f"llmserve_kernels.{op}.kernel")
        tuner = getattr(mod, f"_{op}_kernel", None) if mod else None
        best = getattr(tuner, "best_config", None)
        if best is not None:
            out[op] = str(best)
    return out


def git_commit() -> str | None:
    """HEAD of the checkout this runs from (None where there is no git or no .git)."""
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True,
                             timeout=10, cwd=Path(__file__).resolve().parent)
        return out.stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        return None


def device_info(device: torch.device) -> dict[str, Any]:
    info: dict[str, Any] = dict(torch=torch.__version__, python=platform.python_version(),
                                date=time.strftime("%Y-%m-%d %H:%M:%S"), commit=git_commit())
    if device.type == "cuda":
        import triton

        props = torch.cuda.get_device_properties(device)
        info.update(device=torch.cuda.get_device_name(device), triton=triton.__version__,
                    cuda=torch.version.cuda, sm_count=props.multi_processor_count,
                    memory_bytes=props.total_memory)
    else:
        info.update(device=f"cpu ({platform.processor() or platform.machine()})",
                    threads=torch.get_num_threads())
    return info


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", required=True, help="JSON file to write")
    p.add_argument("--tiny", action="store_true", help="tiny shapes (a CPU smoke test)")
    p.add_argument("--device", default="auto", help="auto, cuda, cpu")
    p.add_argument("--contexts", default=None, help="comma-separated (default 512,4096; "
                   "tiny: 32,64)")
    p.add_argument("--steps", type=int, default=30, help="timed engine steps per mode")
    p.add_argument("--reps", type=int, default=50, help="forwards per timing trial")
    p.add_argument("--eager", action="store_true", help="no CUDA graphs")
    args = p.parse_args(argv)
    default = "32,64" if args.tiny else "512,4096"
    args.contexts = [int(c) for c in (args.contexts or default).split(",") if c.strip()]
    return args


def print_table(rows: list[dict[str, Any]], result: dict[str, Any]) -> None:
    bw = result["bandwidth"]
    print(f"device: {result['info']['device']}  peak HBM: {bw['datasheet_source']}  "
          f"measured copy: {bw['copy_bytes_per_s'] / 1e9:.0f} GB/s  "
          f"weights read: {bw['weight_read_bytes'] / 1e9:.3f} GB")
    print(f"{'ctx':>6} {'seq':>6} {'fwd graph':>10} {'fwd eager':>10} {'step graph':>10} "
          f"{'step eager':>10} {'GB/token':>9} {'roofline':>9} {'ratio':>6} {'<=1.5x':>6}")
    fmt = lambda v: f"{v:.3f}" if isinstance(v, float) else "-"  # noqa: E731
    for r in rows:
        if "error" in r:
            print(f"{r['ctx']:>6} failed: {r['error']}")
            continue
        print(f"{r['ctx']:>6} {r['seq_len']:>6} {fmt(r.get('forward_graph_ms')):>10} "
              f"{fmt(r.get('forward_eager_ms')):>10} {fmt(r.get('step_graph_ms')):>10} "
              f"{fmt(r.get('step_eager_ms')):>10} {r['bytes_per_token'] / 1e9:>9.3f} "
              f"{fmt(r.get('roofline_ms')):>9} {fmt(r.get('ratio')):>6} "
              f"{str(r.get('within_1_5x', '-')):>6}")
    print("(ms per token; roofline = (weights + KV bytes) / data-sheet HBM bandwidth)")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    name = args.device if args.device != "auto" else ("cuda" if torch.cuda.is_available()
                                                       else "cpu")
    device = torch.device(name)
    timer, out = Timer(device), Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    max_tokens = 2 * (2 * args.steps + 16)
    cfg = model_config(args.tiny, max(args.contexts) + max_tokens + 4 * BLOCK_SIZE)
    start = time.perf_counter()
    engine = build_engine(cfg, device, max(args.contexts), max_tokens, args.eager)
    build_s = time.perf_counter() - start
    info = device_info(device)
    datasheet, source = datasheet_bandwidth(info["device"])
    bandwidths = dict(device=info["device"], datasheet_bytes_per_s=datasheet,
                      datasheet_source=source, copy_bytes_per_s=copy_bandwidth(device, timer),
                      weight_read_bytes=weight_read_bytes(engine.runner.model))
    result: dict[str, Any] = dict(
        info=info, model=dict(shape="tiny" if args.tiny else "llama3-8b", **{
            k: getattr(cfg, k) for k in (*LLAMA3_8B, "max_position_embeddings")}),
        settings=dict(dtype="bfloat16", batch=1, block_size=BLOCK_SIZE, steps=args.steps,
                      reps=args.reps, contexts=args.contexts),
        cuda_graphs=engine.runner.graphs is not None, build_s=build_s, bandwidth=bandwidths,
        target_ratio=TARGET_RATIO, results=[])
    rid, result["warmup_prefill_ms"] = start_decode(engine, 64, 4, timer, seed=1)  # compile
    engine.abort_request(rid)
    engine.take_records()
    for ctx in args.contexts:
        try:
            result["results"].append(bench_context(engine, ctx, args, timer, bandwidths))
        except Exception as exc:  # noqa: BLE001 - record it, go on with the next context
            traceback.print_exc()
            result["results"].append(dict(ctx=ctx, error=repr(exc)))
        result["autotuned"] = autotuned_configs()
        if device.type == "cuda":
            result["max_memory_allocated_bytes"] = torch.cuda.max_memory_allocated(device)
        result["wall_s"] = time.perf_counter() - start
        out.write_text(json.dumps(result, indent=1) + "\n")
    print_table(result["results"], result)
    print(f"wrote {out} in {result['wall_s']:.1f} s (build {build_s:.1f} s)")
    return 1 if any("error" in r for r in result["results"]) else 0


if __name__ == "__main__":
    sys.exit(main())
