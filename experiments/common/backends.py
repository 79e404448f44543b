"""The real backends behind a config: `backend=engine` (the toolkit's engine servers, one
process each) and `backend=http` (OpenAI-compatible servers the user runs, e.g. vLLM).

Both put the configured router in a proxy (the same Router object the simulator would use)
and replay the trace through it with the load client, so records have the simulator's
columns. Every process and thread started here is stopped when the run ends or fails.
"""

from __future__ import annotations

import contextlib
import sys
from pathlib import Path

from omegaconf import DictConfig

from toolkit.core.errors import ConfigError
from toolkit.core.record import RequestRecord
from toolkit.core.trace import Trace
from toolkit.engine.launch import free_port, proxy_server, serve_processes
from toolkit.route.base import Router

SCHEDULERS = {"FCFSScheduler": "fcfs", "LPMScheduler": "lpm", "PreblePriorityScheduler": "preble"}


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


def engine_servers(cfg: DictConfig, num_engines: int) -> contextlib.AbstractContextManager[list[str]]:
    """Start `num_engines` engine servers; yield their URLs; stop them afterwards."""
    ports = [free_port() for _ in range(num_engines)]
    return serve_processes([engine_command(cfg, i, p) for i, p in enumerate(ports)], ports,
                           threads=int(cfg.backend.threads_per_engine),
                           startup_timeout_s=float(cfg.backend.startup_timeout_s))


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
