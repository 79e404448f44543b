"""A fake OpenAI-compatible backend for the HTTP tests, and a uvicorn-in-a-thread runner.

The fake streams `max_tokens` pieces of text with `token_delay_s` between them, reports
`usage` (with `cached_tokens`: the longest prompt prefix it has seen before) and JSON
`/metrics`. `die()` breaks its in-flight streams and closes it; `broken` makes it answer
500 to completions and 503 to health checks.
"""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import time
from collections.abc import AsyncIterator
from typing import Any

import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse

from toolkit.http.protocol import (
    CompletionChoice,
    CompletionResponse,
    CompletionUsage,
    error_body,
    parse_completion_request,
)


class FakeBackend:
    """State and ASGI app of one fake server."""

    def __init__(self, name: str, token_delay_s: float = 0.002) -> None:
        self.name = name
        self.token_delay_s = token_delay_s
        self.dead = False
        self.broken = False
        self.served = 0
        self.running = 0
        self.seen: list[tuple[int, ...]] = []
        self.app = self._build()

    def cached_tokens(self, ids: tuple[int, ...]) -> int:
        """Longest common prefix of `ids` with a prompt seen before (then remember it)."""
        best = 0
        for s in self.seen[-64:]:
            n = 0
            for a, b in zip(s, ids):
                if a != b:
                    break
                n += 1
            best = max(best, n)
        self.seen.append(ids)
        return best

    def _build(self) -> FastAPI:
        app = FastAPI()
        app.add_api_route("/v1/completions", self.completions, methods=["POST"])

        @app.get("/health")
        async def health() -> Response:
            return Response(status_code=503 if self.broken else 200)

        @app.get("/v1/models")
        async def models() -> dict:
            return {"object": "list", "data": [{"id": f"fake-{self.name}", "object": "model"}]}

        @app.get("/metrics")
        async def metrics() -> dict:
            return {"num_running": self.running, "num_waiting": 0, "kv_used_tokens": 0,
                    "kv_capacity_tokens": 100_000, "window_hit_ratio": 0.0}

        return app

    async def completions(self, raw: Request) -> Response:
        if self.broken:
            return JSONResponse(error_body("broken on purpose", "server_error"), 500)
        try:
            req = parse_completion_request(json.loads(await raw.body()))
        except ValueError as e:
            return JSONResponse(error_body(str(e)), 400)
        self.served += 1
        p = req.prompts()[0]
        ids = tuple(p) if isinstance(p, list) else tuple(p.encode())
        usage = CompletionUsage.of(len(ids), req.max_tokens, self.cached_tokens(ids))
        if not req.stream:
            await asyncio.sleep(self.token_delay_s * req.max_tokens)
            choice = CompletionChoice(text="t" * req.max_tokens, finish_reason="length")
            return JSONResponse(CompletionResponse(model=self.name, choices=[choice],
                                                   usage=usage).model_dump())
        return StreamingResponse(self._stream(req.max_tokens, usage, req.include_usage()),
                                 media_type="text/event-stream")

    async def _stream(self, n: int, usage: CompletionUsage, include_usage: bool
                      ) -> AsyncIterator[str]:
        self.running += 1
        try:
            for i in range(n):
                await asyncio.sleep(self.token_delay_s)
                if self.dead:
                    raise RuntimeError("fake backend died mid-stream")
                c = CompletionChoice(text=f"t{i} ", finish_reason="length" if i == n - 1 else None)
                yield f"data: {CompletionResponse(model=self.name, choices=[c]).model_dump_json()}\n\n"
            if include_usage:
                yield f"data: {CompletionResponse(model=self.name, usage=usage).model_dump_json()}\n\n"
            yield "data: [DONE]\n\n"
        finally:
            self.running -= 1


class ServerThread:
    """Serve an ASGI app with uvicorn on 127.0.0.1 (a free port) in a daemon thread."""

    def __init__(self, app: Any) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        config = uvicorn.Config(app, log_level="error", backlog=2048, lifespan="on",
                                timeout_graceful_shutdown=1)
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run,
                                       kwargs={"sockets": [self.sock]}, daemon=True)

    def start(self, timeout_s: float = 10.0) -> ServerThread:
        """Start serving; return once the server accepts connections."""
        self.thread.start()
        deadline = time.monotonic() + timeout_s
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError(f"server on port {self.port} did not start")
            time.sleep(0.01)
        return self

    def stop(self, timeout_s: float = 5.0) -> None:
        """Shut down (forcefully: open streams are not waited for)."""
        self.server.should_exit = True
        self.server.force_exit = True
        self.thread.join(timeout_s)


def kill_backend(backend: FakeBackend, server: ServerThread) -> None:
    """Kill a fake backend: break its open streams, then close its socket."""
    backend.dead = True
    time.sleep(max(0.05, 3 * backend.token_delay_s))
    server.stop()
