"""The real backends behind a config: `backend=engine` (the toolkit's engine servers, one
process each) and `backend=http` (OpenAI-compatible servers the user runs, e.g. vLLM).

Both put the configured router in a proxy (the same Router object the simulator would use)
and replay the trace through it with the load client, so records have the simulator's
columns. Every process and thread started here is stopped when the run ends or fails.
"""

from __future__ import annotations

import contextlib
import json
import sys
from pathlib import Path

from omegaconf import DictConfig

from toolkit.core.errors import ConfigError
from toolkit.core.policy import build_policy, policy_spec
from toolkit.core.record import RequestRecord
from toolkit.core.trace import Trace
from toolkit.http.launch import free_port, proxy_server, serve_processes
from toolkit.route.base import Router


def engine_command(cfg: DictConfig, engine_id: int, port: int) -> list[str]:
    """The `python -m toolkit.serve.server` command line of engine `engine_id`."""
    b = cfg.backend
    return [sys.executable, "-m", "toolkit.serve.server", "--model", str(model_dir(cfg)),
            "--host", "127.0.0.1", "--port", str(port), "--engine-id", str(engine_id),
            "--block-size", str(b.block_size), "--num-kv-blocks", str(b.num_kv_blocks),
            "--scheduler-config", json.dumps(policy_spec(cfg.local_sched)),
            "--seed", str(cfg.seed)]


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
    from toolkit.http.client import replay

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
    b = cfg.backend
    torch.set_num_threads(int(b.threads_per_engine))
    config = EngineConfig(model=str(model_dir(cfg)), block_size=int(b.block_size),
                          num_kv_blocks=int(b.num_kv_blocks),
                          scheduler=build_policy(cfg.local_sched), seed=int(cfg.seed),
                          dtype="float32", device="cpu")
    return replay_inprocess(LLMEngine(config), trace)
