"""Start and stop the serving stack's processes: engine servers (one process each) and the
router proxy (a thread of this process), on free loopback ports. Every process and thread
started here is stopped when the `with` block ends or fails."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import threading
import time
from collections.abc import Iterator, Sequence
from typing import Any

import httpx


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


@contextlib.contextmanager
def serve_processes(commands: Sequence[Sequence[str]], ports: Sequence[int], *, threads: int,
                    startup_timeout_s: float) -> Iterator[list[str]]:
    """Start one server per command line (listening on the matching port, `threads` torch
    threads each); yield their URLs once all answer /health; stop them afterwards."""
    env = dict(os.environ, OMP_NUM_THREADS=str(threads))
    procs, urls = [], []
    try:
        for cmd, port in zip(commands, ports, strict=True):
            procs.append(subprocess.Popen(list(cmd), env=env, stdout=subprocess.DEVNULL,
                                          stderr=subprocess.PIPE))
            urls.append(f"http://127.0.0.1:{port}")
        for url, proc in zip(urls, procs):
            wait_healthy(url, startup_timeout_s, proc)
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
def proxy_server(urls: list[str], router: Any, tokenizer: str | None) -> Iterator[str]:
    """Serve the router proxy over `urls` on a free loopback port in a thread."""
    import uvicorn

    from toolkit.http.proxy import build_proxy_app

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
