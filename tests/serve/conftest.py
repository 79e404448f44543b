"""Fixtures of the server tests: the tiny model and an engine server on 127.0.0.1 (uvicorn in
a thread, one per module)."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("torch")
pytest.importorskip("transformers")
uvicorn = pytest.importorskip("uvicorn")

SERVER_KW: dict[str, Any] = dict(num_kv_blocks=1024, block_size=4, chunk_size=256,
                                 max_num_seqs=64, engine_id=3, seed=0)
"""The engine options of the test server (and of the `LLM` it is compared with)."""


class ServerThread:
    """Serves an ASGI app with uvicorn on a free 127.0.0.1 port, in a daemon thread."""

    def __init__(self, app: Any) -> None:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        config = uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning",
                                access_log=False, lifespan="on", backlog=2048)
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout_s: float = 30.0) -> ServerThread:
        self.thread.start()
        deadline = time.monotonic() + timeout_s
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("the test server did not start")
            time.sleep(0.02)
        return self

    def stop(self, timeout_s: float = 10.0) -> None:
        self.server.should_exit = True
        self.thread.join(timeout_s)


@pytest.fixture(scope="session")
def tiny_model_dir() -> Path:
    """The tiny model folder, built once (into `.cache/tiny-llama`)."""
    from toolkit.engine.tiny import build_tiny_model

    return build_tiny_model()


@pytest.fixture(scope="module")
def server(tiny_model_dir: Path) -> Iterator[ServerThread]:
    """A running engine server on the tiny model."""
    from toolkit.engine.config import EngineConfig
    from toolkit.serve.server import build_app

    app = build_app(EngineConfig(model=str(tiny_model_dir), **SERVER_KW))
    srv = ServerThread(app).start()
    yield srv
    srv.stop()
