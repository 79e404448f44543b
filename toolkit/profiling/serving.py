"""Profile what the HTTP serving path adds to the engine's own step times, into a profile.

Usage: python -m toolkit.profiling.serving --profile FILE.json [--model DIR|tiny]
       [--engines 2] [--threads 1] [--num-kv-blocks 512] [--quick]

`FILE.json` is a profile `python -m toolkit.profiling.profile` wrote for the same model on this
device (one thread per engine). The probe starts `--engines` engine servers (one process
each, as `backend=engine` does) behind the round-robin router proxy, which runs in a thread of
this process beside the streaming client: the whole stack of a real run, sharing this
machine's cores the way a run shares them. It measures, against the profile's prices of the
same steps:

- decode: every engine holds `batch` streamed requests at once (closed loop, fresh random
  prompts, no prefix hits); a request's time per output token over HTTP, minus the profile's
  decode step of that batch and context, is what serving adds to each step. Fitted as
  `step_s + token_s x batch` (least squares over the batches): the server's per-step work
  (the event hand-off to its HTTP thread) and its per-token work (one server-sent event per
  token per request, forwarded by the proxy and read by the client, all competing for the
  same cores as the engines).
- request: single requests sent one at a time to idle engines; the time to the first
  streamed token, minus the profile's price of the engine's part (the prefill and its
  wake-up after idleness), is what one request pays on its way in and out (client, proxy
  routing, the server's parsing and admission).

The result goes into the model entry as `serving.http` (rows and fit); the simulator charges
it with `load_profiled_cost_model(path, serving="http")`.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

SERVING_VERSION = 1
"""Bumped when what the serving probe measures changes."""

PROMPT_LEN, OUTPUT_LEN, IDLE_GAP_S = 64, 48, 0.2


def engine_commands(model_dir: str, ports: Sequence[int], num_kv_blocks: int,
                    max_num_seqs: int) -> list[list[str]]:
    """The `python -m toolkit.serve.server` command lines of the probe's engines."""
    return [[sys.executable, "-m", "toolkit.serve.server", "--model", model_dir,
             "--host", "127.0.0.1", "--port", str(port), "--engine-id", str(i),
             "--block-size", "16", "--num-kv-blocks", str(num_kv_blocks), "--max-num-seqs", str(max_num_seqs), "--seed", "0"]
            for i, port in enumerate(ports)]


async def stream_one(client: Any, url: str, prompt: list[int], max_tokens: int) -> list[float]:
    """Send one streamed completion; return the send time then each token chunk's arrival."""
    body = {"model": "default", "prompt": prompt, "max_tokens": max_tokens, "stream": True,
            "ignore_eos": True, "temperature": 0.0}
    times = [time.perf_counter()]
    async with client.stream("POST", f"{url}/v1/completions", json=body) as resp:
        if resp.status_code != 200:
            raise RuntimeError(f"{url}: HTTP {resp.status_code}: {(await resp.aread())[:200]!r}")
        async for line in resp.aiter_lines():
            if line.startswith("data: ") and line != "data: [DONE]":
                chunk = json.loads(line[6:])
                times.extend([time.perf_counter()] * len(chunk["choices"][0].get("token_ids") or [1]))
    return times


def tpot_s(times: list[float]) -> float:
    """Mean seconds between a request's output tokens after its first."""
    return (times[-1] - times[1]) / (len(times) - 2)


class ServingProbe:
    """Drives the stack behind `url` with closed-loop batches and single requests."""

    def __init__(self, url: str, engines: int, rng: random.Random, vocab: int) -> None:
        self.url, self.engines, self.rng, self.vocab = url, engines, rng, vocab

    def prompt(self) -> list[int]:
        """A fresh random prompt (its blocks hit no cache)."""
        return [self.rng.randrange(3, self.vocab) for _ in range(PROMPT_LEN)]

    async def batch_tpot_s(self, client: Any, batch: int, repeats: int) -> float:
        """Median time per output token of `batch` requests per engine, all sent at once."""
        tpots = []
        for _ in range(repeats):
            jobs = [stream_one(client, self.url, self.prompt(), OUTPUT_LEN)
                    for _ in range(batch * self.engines)]
            tpots += [tpot_s(t) for t in await asyncio.gather(*jobs)]
        return statistics.median(tpots)

    async def idle_ttft_s(self, client: Any, count: int) -> float:
        """Mean time to the first token of single requests to idle engines."""
        ttfts = []
        for _ in range(count):
            await asyncio.sleep(IDLE_GAP_S)
            times = await stream_one(client, self.url, self.prompt(), 2)
            ttfts.append(times[1] - times[0])
        return statistics.fmean(ttfts)


def fit_step_token(batches: Sequence[int], extra_s: Sequence[float]) -> tuple[float, float]:
    """(step_s, token_s) of `extra = step_s + token_s x batch`, least squares, each >= 0
    (a negative intercept refits through the origin; a negative slope is taken as 0)."""
    x, y = np.asarray(batches, float), np.asarray(extra_s, float)
    if len(x) > 1:
        token_s, step_s = np.polyfit(x, y, 1)
    else:
        token_s, step_s = 0.0, float(y[0])
    if step_s < 0:
        step_s, token_s = 0.0, float(x @ y / (x @ x))
    if token_s < 0:
        step_s, token_s = float(y.mean()), 0.0
    return float(step_s), float(token_s)


async def _probe(url: str, engines: int, vocab: int, batches: Sequence[int], repeats: int,
                 idle_count: int, seed: int) -> tuple[dict[int, float], float]:
    import httpx

    probe = ServingProbe(url, engines, random.Random(seed), vocab)
    async with httpx.AsyncClient(timeout=httpx.Timeout(300.0)) as client:
        await probe.batch_tpot_s(client, 1, 1)  # warm-up: every engine's first steps
        tpot = {b: await probe.batch_tpot_s(client, b, repeats) for b in batches}
        ttft = await probe.idle_ttft_s(client, idle_count)
    return tpot, ttft


def measure_http(model_dir: str, profile_path: str | Path, *, engines: int = 2,
                 threads: int = 1, num_kv_blocks: int = 512, batches: Sequence[int] = (1, 4, 8),
                 repeats: int = 3, idle_count: int = 20, seed: int = 0,
                 log: Callable[[str], None] = print) -> dict[str, Any]:
    """The `serving.http` entry: measured rows, the profile's prices of the same steps, and
    the fit the simulator charges (see the module docstring)."""
    from toolkit.cost.engine_profile import load_profiled_cost_model
    from toolkit.http.launch import free_port, proxy_server, serve_processes
    from toolkit.http.proxy import ROUND_ROBIN

    cost = load_profiled_cost_model(profile_path)
    vocab = int(json.loads((Path(model_dir) / "config.json").read_text())["vocab_size"])
    ports = [free_port() for _ in range(engines)]
    cmds = engine_commands(model_dir, ports, num_kv_blocks, max(batches) + 1)
    with serve_processes(cmds, ports, threads=threads, startup_timeout_s=120.0) as urls, \
            proxy_server(urls, ROUND_ROBIN, None) as url:
        tpot, ttft = asyncio.run(_probe(url, engines, vocab, batches, repeats, idle_count, seed))
    rows = []
    for b in batches:
        model_s = cost.decode_s(b, PROMPT_LEN + OUTPUT_LEN // 2)
        rows.append(dict(batch=b, tpot_s=tpot[b], model_s=model_s, extra_s=tpot[b] - model_s))
        log(f"decode  batch={b:3d}  http {tpot[b] * 1e3:7.3f} ms/token  "
            f"engine {model_s * 1e3:7.3f} ms  +{(tpot[b] - model_s) * 1e3:7.3f} ms")
    step_s, token_s = fit_step_token(batches, [r["extra_s"] for r in rows])
    engine_ttft = cost.prefill_s(PROMPT_LEN) + cost.wake_s(IDLE_GAP_S)
    request_s = max(0.0, ttft - engine_ttft - step_s - token_s)
    log(f"request idle ttft http {ttft * 1e3:7.3f} ms  engine {engine_ttft * 1e3:7.3f} ms  "
        f"-> request_s {request_s * 1e3:.3f} ms; step_s {step_s * 1e3:.3f} ms, "
        f"token_s {token_s * 1e3:.3f} ms")
    return dict(version=SERVING_VERSION, engines=engines, threads=threads,
                prompt_len=PROMPT_LEN, output_len=OUTPUT_LEN, idle_gap_s=IDLE_GAP_S,
                decode=rows, ttft_s=ttft, engine_ttft_s=engine_ttft,
                request_s=request_s, step_s=step_s, token_s=token_s)


def add_serving(profile_path: str | Path, model_dir: str, quick: bool = False,
                **kwargs: Any) -> dict[str, Any]:
    """Measure `serving.http` and write it into the profile's first model entry."""
    if quick:
        kwargs = {"batches": (1, 4), "repeats": 1, "idle_count": 5, **kwargs}
    http = measure_http(model_dir, profile_path, **kwargs)
    path = Path(profile_path)
    profile = json.loads(path.read_text())
    profile["models"][0].setdefault("serving", {})["http"] = http
    path.write_text(json.dumps(profile, indent=1))
    return http


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--profile", required=True, help="profile file to add `serving.http` to")
    ap.add_argument("--model", default="tiny", help="model folder, or 'tiny'")
    ap.add_argument("--engines", type=int, default=2)
    ap.add_argument("--threads", type=int, default=1, help="torch threads per engine")
    ap.add_argument("--num-kv-blocks", type=int, default=512)
    ap.add_argument("--quick", action="store_true", help="fewer batches and repeats")
    a = ap.parse_args(argv)
    if not Path(a.profile).exists():
        ap.error(f"--profile {a.profile}: no such file (run python -m toolkit.profiling.profile)")
    model = a.model
    if model == "tiny":
        from toolkit.engine.tiny import build_tiny_model

        model = str(build_tiny_model())
    add_serving(a.profile, model, a.quick, engines=a.engines, threads=a.threads,
                num_kv_blocks=a.num_kv_blocks)


if __name__ == "__main__":
    main()
