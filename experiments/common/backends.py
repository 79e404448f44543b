"""The real backends behind a config: `backend=engine` (the toolkit's engine servers, one
process each) and `backend=http` (OpenAI-compatible servers the user runs, e.g. vLLM).

Both put the configured router in a proxy (the same Router object the simulator would use)
and replay the trace through it with the load client, so records have the simulator's
columns. Every process and thread started here is stopped when the run ends or fails.
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
from omegaconf import DictConfig

from toolkit.core.errors import ConfigError
from toolkit.core.record import RequestRecord
from toolkit.core.trace import Trace
from toolkit.route.base import Router

SCHEDULERS = {"FCFSScheduler": "fcfs", "LPMScheduler": "lpm", "PreblePriorityScheduler": "preble"}


def free_port() -> int:
    """A free TCP port on the loopback interface."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_healthy(url: str, timeout_s: float, proc: subprocess.Popen | None = None) -> None:
    """Poll `url`/health until it answers 200; raise with the reason on timeout or exit."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"server for {url} exited with code {proc.returncode}")
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(f"{url}/health", timeout=2.0).status_code == 200:
                return
        time.sleep(0.25)
    raise TimeoutError(f"{url} not healthy after {timeout_s:.0f} s")


def scheduler_name(cfg: DictConfig) -> str:
    """The engine's name (fcfs, lpm, preble) of the configured local scheduler."""
    target = str(cfg.local_sched._target_)
    name = SCHEDULERS.get(target.rsplit(".", 1)[-1])
    if name is None:
        raise ConfigError("local_sched", f"{target} has no engine equivalent")
    return name


def engine_command(cfg: DictConfig, engine_id: int, port: int) -> list[str]:
    """The `python -m toolkit.engine.serve` command line of engine `engine_id`."""
    b, sched, name = cfg.backend, cfg.local_sched, scheduler_name(cfg)
    cmd = [sys.executable, "-m", "toolkit.engine.serve", "--model", str(model_dir(cfg)),
           "--host", "127.0.0.1", "--port", str(port), "--engine-id", str(engine_id),
           "--block-size", str(b.block_size), "--num-kv-blocks", str(b.num_kv_blocks),
           "--scheduler", name, "--max-num-seqs", str(sched.max_running),
           "--seed", str(cfg.seed)]
    if sched.chunked_prefill:
        cmd += ["--chunk-size", str(sched.chunk_size)]
    return cmd


def model_dir(cfg: DictConfig) -> Path:
    """The engine's model folder (`backend.model_dir`; 'tiny' builds the shared tiny model)."""
    if cfg.backend.model_dir in (None, "tiny"):
        from toolkit.engine.tiny import build_tiny_model

        return build_tiny_model()
    path = Path(cfg.backend.model_dir)
    if not (path / "config.json").exists():
        raise ConfigError("backend.model_dir", f"no config.json in {path}")
    return path


@contextlib.contextmanager
def engine_servers(cfg: DictConfig, num_engines: int) -> Iterator[list[str]]:
    """Start `num_engines` engine servers; yield their URLs; stop them afterwards."""
    env = dict(os.environ, OMP_NUM_THREADS=str(cfg.backend.threads_per_engine))
    procs, urls = [], []
    try:
        for i in range(num_engines):
            port = free_port()
            procs.append(subprocess.Popen(engine_command(cfg, i, port), env=env,
                                          stdout=subprocess.DEVNULL, stderr=subprocess.PIPE))
            urls.append(f"http://127.0.0.1:{port}")
        for url, proc in zip(urls, procs):
            wait_healthy(url, float(cfg.backend.startup_timeout_s), proc)
        yield urls
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()


@contextlib.contextmanager
def proxy_server(urls: list[str], router: Router, tokenizer: str | None) -> Iterator[str]:
    """Serve the router proxy over `urls` on a free loopback port in a thread."""
    import uvicorn

    from toolkit.engine.proxy import build_proxy_app

    app = build_proxy_app(urls, router, tokenizer=tokenizer)
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        wait_healthy(f"http://127.0.0.1:{port}", 30.0)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def run_real(cfg: DictConfig, trace: Trace, router: Router, num_engines: int) -> list[RequestRecord]:
    """Replay `trace` on the configured real backend; one record per request."""
    from toolkit.engine.client import replay

    b = cfg.backend
    if b.name == "engine":
        tokenizer = str(model_dir(cfg))
        servers = engine_servers(cfg, num_engines)
    else:
        if not b.urls:
            raise ConfigError("backend.urls", "give the servers' base URLs")
        if len(b.urls) != num_engines:
            raise ConfigError("backend.urls", f"{len(b.urls)} URLs for {num_engines} engines "
                                              "(cluster.num_gpus / cluster.tp)")
        tokenizer = b.tokenizer
        servers = contextlib.nullcontext(list(b.urls))
    with servers as urls, proxy_server(urls, router, tokenizer) as url:
        return replay(trace, url, model=b.get("served_model"), progress=bool(b.progress),
                      timeout_s=float(b.request_timeout_s))


def run_inprocess(cfg: DictConfig, trace: Trace, num_engines: int) -> list[RequestRecord]:
    """`backend=engine_inprocess`: one engine in this process, replayed in real time."""
    import torch

    from toolkit.engine.config import EngineConfig
    from toolkit.engine.engine import LLMEngine
    from toolkit.engine.replay import replay_inprocess

    if num_engines != 1:
        raise ConfigError("cluster.num_gpus", "backend=engine_inprocess runs one engine")
    b, sched, name = cfg.backend, cfg.local_sched, scheduler_name(cfg)
    torch.set_num_threads(int(b.threads_per_engine))
    config = EngineConfig(model=str(model_dir(cfg)), block_size=int(b.block_size),
                          num_kv_blocks=int(b.num_kv_blocks), scheduler=name,
                          chunked_prefill=bool(sched.chunked_prefill),
                          chunk_size=int(sched.chunk_size), max_num_seqs=int(sched.max_running),
                          seed=int(cfg.seed), dtype="float32", device="cpu")
    return replay_inprocess(LLMEngine(config), trace)
