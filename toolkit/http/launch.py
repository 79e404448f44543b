"""Start and stop serving processes from the toolkit's own Python: any server command (the
toolkit's engine servers, vLLM, SGLang's router) in its own process group with its log in a
file, started and waited for by /health, stopped as a group; and the router proxy in a thread
of this process. Standard library only (uvicorn when the proxy starts): importing it needs no
HTTP client, so a vLLM environment can import it too."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

LOOPBACK = "127.0.0.1"


class ServerStartError(RuntimeError):
    """A server process exited or did not answer /health before its deadline."""


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


def poll_health(url: str, timeout_s: float, process: subprocess.Popen | None = None,
                poll_s: float = 0.25) -> str:
    """Poll `url`/health until it answers 200 (''), `process` exits, or `timeout_s` passes;
    return why it is not healthy."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            return f"exited with code {process.returncode}"
        status, _ = http_get(url + "/health", timeout_s=min(5.0, timeout_s))
        if status == 200:
            return ""
        time.sleep(poll_s)
    return f"not healthy after {timeout_s:.0f} s"


def wait_healthy(handle: ServerHandle, timeout_s: float, poll_s: float = 0.5) -> None:
    """Wait for `handle`'s /health; raise `ServerStartError` with its log tail on exit or
    deadline."""
    reason = poll_health(handle.url, timeout_s, handle.process, poll_s)
    if reason:
        raise ServerStartError(f"{handle.name} {reason}; log tail:\n" + handle.log_tail())


def spawn(name: str, command: Sequence[str], port: int, env: Mapping[str, str] | None = None,
          log_path: str | Path | None = None) -> ServerHandle:
    """Start `command` (a server that will listen on 127.0.0.1:`port`) in its own process
    group with stdout+stderr to `log_path` (a temporary file by default); do not wait."""
    if log_path is None:
        fd, tmp = tempfile.mkstemp(prefix=f"{name}-{port}-", suffix=".log")
        os.close(fd)
        log_path = tmp
    log_path = Path(log_path)
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            list(command), stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            env={**os.environ, **(env or {})}, start_new_session=True,
        )
    return ServerHandle(name, f"http://{LOOPBACK}:{port}", process, log_path, list(command))


def launch(
    name: str,
    command: Sequence[str],
    port: int,
    env: Mapping[str, str] | None = None,
    log_path: str | Path | None = None,
    startup_timeout_s: float = 300.0,
) -> ServerHandle:
    """`spawn` the server, wait for /health, and return its handle (stopped on failure)."""
    start = time.monotonic()
    handle = spawn(name, command, port, env, log_path)
    try:
        wait_healthy(handle, startup_timeout_s)
    except BaseException:
        handle.stop()
        raise
    handle.startup_s = time.monotonic() - start
    return handle


@contextlib.contextmanager
def serve_processes(commands: Sequence[Sequence[str]], ports: Sequence[int], *, threads: int,
                    startup_timeout_s: float) -> Iterator[list[str]]:
    """Start one server per command line (listening on the matching port, `threads` torch
    threads each), all at once; yield their URLs once all answer /health; stop them after."""
    env = {"OMP_NUM_THREADS": str(threads)}
    handles: list[ServerHandle] = []
    try:
        for i, (cmd, port) in enumerate(zip(commands, ports, strict=True)):
            handles.append(spawn(f"engine{i}", cmd, port, env))
        for handle in handles:
            wait_healthy(handle, startup_timeout_s)
        yield [h.url for h in handles]
    finally:
        for handle in handles:
            handle.stop()


@contextlib.contextmanager
def proxy_server(urls: list[str], router: Any, tokenizer: str | None) -> Iterator[str]:
    """Serve the router proxy over `urls` on a free loopback port in a thread."""
    import uvicorn

    from toolkit.http.proxy import build_proxy_app

    app = build_proxy_app(urls, router, tokenizer=tokenizer)
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host=LOOPBACK, port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    url = f"http://{LOOPBACK}:{port}"
    try:
        reason = poll_health(url, 30.0)
        if reason:
            raise ServerStartError(f"router proxy {reason}")
        yield url
    finally:
        server.should_exit = True
        thread.join(timeout=10)
