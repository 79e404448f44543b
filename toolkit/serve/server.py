"""The engine's OpenAI-compatible HTTP server.

    python -m toolkit.serve.server --model .cache/tiny-llama --port 8000 [--engine-id 0]

`POST /v1/completions` takes text or token-id prompts, or a list of either (one choice per
prompt, times `n`), with `max_tokens`, `temperature`, `top_p`, `seed`, `ignore_eos` and the
extensions `top_k`, `stop_token_ids`, `skip_special_tokens`; it answers at once or as
server-sent events (each chunk carries its new `text` and `token_ids`, then a `usage` chunk
when `stream_options.include_usage`, then `data: [DONE]`). `usage` reports the prompt tokens
the prefix cache hit in `prompt_tokens_details.cached_tokens`. A malformed request gets a 400
naming the reason. `GET /health`, `GET /v1/models` and `GET /metrics` (JSON: load and cache
statistics) complete the API; every response carries `x-backend-id: <engine id>`. A client
that disconnects has its request aborted in the engine.

Pauses: a one-choice completion with `"pause_after": [n1, ...]` answers with `finish_reason:
"pause"` after n1 tokens, its `id` being the request id; `POST /v1/resume` `{"request_id",
"prompt_token_ids" or "text"}` appends the tool's output and answers the continuation as a
completion (same `id`, `usage.prompt_tokens` = the whole context), up to `max_tokens` after
the last pause. Unknown/finished/timed-out id: 404; not paused: 409; bad body or too long: 400.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import os
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse

from toolkit.core.policy import load_spec
from toolkit.engine.components import load_tokenizer
from toolkit.engine.config import EngineConfig
from toolkit.engine.engine import LLMEngine
from toolkit.engine.sampling import SamplingParams
from toolkit.http.protocol import (
    CompletionChoice,
    CompletionResponse,
    ModelCard,
    ModelList,
    error_body,
    parse_resume_request,
)
from toolkit.serve.async_engine import AsyncLLMEngine, EngineEvent
from toolkit.serve.request import Job, Stream, prepare_jobs, tool_token_ids

log = logging.getLogger(__name__)

ACK_TIMEOUT_S = 120.0
"""How long a handler waits for the engine thread to accept a request (one step at most)."""


class CompletionServer:
    """The handlers of one engine's server (build it with `build_app`)."""

    def __init__(self, engine: LLMEngine, model_name: str) -> None:
        self.engine = engine
        self.aengine = AsyncLLMEngine(engine)
        self.model_name = model_name
        # A tokenizer of the handlers' own: the engine thread decodes with the engine's.
        cfg = engine.config
        self.tokenizer = load_tokenizer(cfg.tokenizer or cfg.model)

    async def completions(self, raw: Request) -> Response:
        """`POST /v1/completions`."""
        try:
            req, jobs = prepare_jobs(await _json_body(raw), self.tokenizer,
                                     self.engine.max_model_len, self.engine.model_config.vocab_size)
        except ValueError as exc:
            return _error(400, str(exc))
        if not self.aengine.alive:
            return _error(503, "the engine is not running", "server_error")
        rid = f"cmpl-{uuid.uuid4().hex}"
        stream = Stream(rid, req.model or self.model_name, jobs, self.tokenizer, req.stream,
                        pausable=bool(jobs[0].pause_after))
        for i, job in enumerate(jobs):
            self.aengine.submit(stream.request_id(i), job.prompt_ids, job.params, stream.queue, i,
                                job.pause_after, job.problem)
        return await self._answer(stream, raw, req.stream, req.include_usage())

    async def resume(self, raw: Request) -> Response:
        """`POST /v1/resume`: continue a paused request with its tool's output."""
        try:
            req = parse_resume_request(await _json_body(raw))
            ids = tool_token_ids(req.prompt_token_ids, req.text, self.tokenizer,
                                 self.engine.model_config.vocab_size)
        except ValueError as exc:
            return _error(400, str(exc))
        if not self.aengine.alive:
            return _error(503, "the engine is not running", "server_error")
        job = Job([], SamplingParams(skip_special_tokens=req.skip_special_tokens))
        stream = Stream(req.request_id, self.model_name, [job], self.tokenizer, req.stream,
                        pausable=True)
        self.aengine.resume(req.request_id, ids, stream.queue)
        return await self._answer(stream, raw, req.stream, req.include_usage())

    async def _answer(self, stream: Stream, raw: Request, streamed: bool,
                      include_usage: bool) -> Response:
        failure = await self._await_accepted(stream)
        if failure is not None:
            return failure
        if streamed:
            return StreamingResponse(self._sse(stream, include_usage),
                                     media_type="text/event-stream")
        return await self._complete(stream, raw)

    async def _await_accepted(self, stream: Stream) -> Response | None:
        """Wait for every sub-request's 'accepted'; on a rejection abort the others and
        return the error response."""
        try:
            error = await asyncio.wait_for(stream.wait_accepted(), ACK_TIMEOUT_S)
        except asyncio.TimeoutError:
            error = EngineEvent("failed", error="the engine did not accept the request in time")
        if error is None:
            return None
        self._abort(stream)
        if error.kind == "rejected":
            prefix = f"prompt {error.index}: " if len(stream.jobs) > 1 else ""
            return _error(error.code, prefix + error.error)
        return _error(500, error.error, "server_error")

    async def _complete(self, stream: Stream, raw: Request) -> Response:
        watcher = asyncio.ensure_future(_on_disconnect(raw, stream.queue))
        try:
            while not stream.done:
                event = await stream.next_event()
                if event is None:  # the client went away
                    self._abort(stream)
                    return Response(status_code=499)
                if event.kind == "failed":
                    self._abort(stream)
                    return _error(500, event.error, "server_error")
                stream.apply(event)
        finally:
            watcher.cancel()
        resp = CompletionResponse(id=stream.id, model=stream.model, choices=stream.choices(),
                                  usage=stream.usage())
        return JSONResponse(resp.model_dump(mode="json"))

    async def _sse(self, stream: Stream, include_usage: bool) -> AsyncIterator[str]:
        try:
            while not stream.done:
                event = await stream.next_event()
                if event is None:
                    break
                if event.kind == "failed":
                    yield f"data: {_json(error_body(event.error, 'server_error'))}\n\n"
                    break
                text = stream.apply(event)
                choice = CompletionChoice(index=event.index, text=text, token_ids=event.token_ids,
                                          finish_reason=event.finish_reason)
                chunk = CompletionResponse(id=stream.id, created=stream.created,
                                           model=stream.model, choices=[choice])
                yield f"data: {chunk.model_dump_json()}\n\n"
            if stream.done and include_usage:
                chunk = CompletionResponse(id=stream.id, created=stream.created,
                                           model=stream.model, usage=stream.usage())
                yield f"data: {chunk.model_dump_json()}\n\n"
            if stream.done:
                yield "data: [DONE]\n\n"
        finally:
            self._abort(stream)

    def _abort(self, stream: Stream) -> None:
        for i in stream.unfinished():
            self.aengine.abort(stream.request_id(i))
        stream.mark_all_done()

    async def health(self) -> Response:
        """`GET /health`: 200 while the engine thread runs, else 503."""
        return Response(status_code=200 if self.aengine.alive else 503)

    async def models(self) -> dict[str, Any]:
        """`GET /v1/models`: the one model served."""
        return ModelList(data=[ModelCard(id=self.model_name)]).model_dump(mode="json")

    async def metrics(self) -> dict[str, Any]:
        """`GET /metrics`: load and cache statistics as JSON."""
        snap = self.aengine.metrics()
        snap["model"] = self.model_name
        snap["max_model_len"] = self.engine.max_model_len
        return snap


async def _on_disconnect(raw: Request, queue: asyncio.Queue) -> None:
    """Put None on `queue` once the client disconnects (the body has been read already)."""
    while True:
        message = await raw.receive()
        if message["type"] == "http.disconnect":
            queue.put_nowait(None)
            return


async def _json_body(raw: Request) -> Any:
    """The decoded body; ValueError if it is not JSON."""
    try:
        return await raw.json()
    except ValueError:
        raise ValueError("the request body is not valid JSON") from None


def _json(obj: Any) -> str:
    return json.dumps(obj, separators=(",", ":"))


def _error(status: int, message: str, err_type: str = "invalid_request_error") -> JSONResponse:
    return JSONResponse(error_body(message, err_type, code=status), status_code=status)


class BackendIdHeader:
    """ASGI middleware adding `x-backend-id` to every HTTP response (streams included)."""

    def __init__(self, app: Any, engine_id: int) -> None:
        self.app = app
        self.value = str(engine_id).encode()

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_id(message: dict) -> None:
            if message["type"] == "http.response.start":
                headers = [*message.get("headers", []), (b"x-backend-id", self.value)]
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_id)


def build_app(engine_config: EngineConfig | LLMEngine, model_name: str | None = None) -> FastAPI:
    """The server's FastAPI app around a new engine (or the given one). The engine thread
    starts with the app's lifespan or with the first request, and stops with the lifespan.
    `app.state.server` is the `CompletionServer`."""
    engine = engine_config if isinstance(engine_config, LLMEngine) else LLMEngine(engine_config)
    if model_name is None:
        model_name = Path(str(engine.config.model)).name if engine.config.model else "model"
    server = CompletionServer(engine, model_name)

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        server.aengine.start()
        yield
        server.aengine.stop()

    app = FastAPI(title="toolkit engine server", lifespan=lifespan)
    app.state.server = server
    app.add_api_route("/v1/completions", server.completions, methods=["POST"])
    app.add_api_route("/v1/resume", server.resume, methods=["POST"])
    app.add_api_route("/health", server.health, methods=["GET"])
    app.add_api_route("/v1/models", server.models, methods=["GET"])
    app.add_api_route("/metrics", server.metrics, methods=["GET"])
    app.add_middleware(BackendIdHeader, engine_id=engine.config.engine_id)
    return app


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The command line of `python -m toolkit.serve.server`."""
    p = argparse.ArgumentParser(description="OpenAI-compatible server of the toolkit's engine")
    p.add_argument("--model", required=True, help="model folder (config.json, weights, tokenizer)")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8000)
    p.add_argument("--engine-id", type=int, default=0)
    kv = p.add_mutually_exclusive_group()
    kv.add_argument("--num-kv-blocks", type=int, default=None)
    kv.add_argument("--kv-cache-bytes", type=int, default=None)
    p.add_argument("--block-size", type=int, default=16)
    p.add_argument("--scheduler-config", default=None,
                   help="the local scheduler's config node (`_target_` and settings) as a "
                        "JSON object or a .json/.yaml file; default: FCFS with --chunk-size "
                        "and --max-num-seqs")
    p.add_argument("--chunk-size", type=int, default=None, help="default FCFS only (512)")
    p.add_argument("--max-num-seqs", type=int, default=None, help="default FCFS only (64)")
    p.add_argument("--max-model-len", type=int, default=None)
    p.add_argument("--no-prefix-caching", action="store_true")
    p.add_argument("--device", default="auto")
    p.add_argument("--dtype", default="auto")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=None,
                   help="torch intra-op threads (default: $OMP_NUM_THREADS, else one fewer "
                        "than the cores, leaving one to the HTTP side)")
    p.add_argument("--pause-policy-config", default=None,
                   help="the KV-pause policy's config node (`_target_` and settings) as a JSON "
                        "object or a .json/.yaml file; default: preserve")
    p.add_argument("--drafter-config", default=None,
                   help="speculative decoding: the drafter's config node (`_target_` and "
                        "settings, e.g. toolkit.spec.das.DASDrafter) as a JSON object or a "
                        ".json/.yaml file; default: no speculation")
    p.add_argument("--spec-budget-config", default=None,
                   help="the speculation budget's config node; default: "
                        "--num-speculative-tokens for every sequence")
    p.add_argument("--num-speculative-tokens", type=int, default=4)
    p.add_argument("--swap-space-tokens", type=int, default=None)
    p.add_argument("--pause-timeout-s", type=float, default=None)
    p.add_argument("--served-model-name", default=None)
    p.add_argument("--log-level", default="warning")
    return p.parse_args(argv)


def engine_config_from_args(a: argparse.Namespace) -> EngineConfig:
    """The `EngineConfig` the command line describes."""
    extra = {} if a.kv_cache_bytes is None else {"kv_cache_bytes": a.kv_cache_bytes}
    if a.scheduler_config is not None:
        given = [f for f, v in (("--chunk-size", a.chunk_size),
                                ("--max-num-seqs", a.max_num_seqs)) if v is not None]
        if given:
            raise SystemExit(f"{', '.join(given)}: set in --scheduler-config instead")
        extra["scheduler"] = _spec_arg("--scheduler-config", a.scheduler_config)
    if a.pause_policy_config is not None:
        extra["pause_policy"] = _spec_arg("--pause-policy-config", a.pause_policy_config)
    if a.drafter_config is not None:
        extra["drafter"] = _spec_arg("--drafter-config", a.drafter_config)
    if a.spec_budget_config is not None:
        extra["spec_budget"] = _spec_arg("--spec-budget-config", a.spec_budget_config)
    for name in ("chunk_size", "max_num_seqs"):
        if getattr(a, name) is not None:
            extra[name] = getattr(a, name)
    return EngineConfig(model=a.model, engine_id=a.engine_id, num_kv_blocks=a.num_kv_blocks,
                        block_size=a.block_size, max_model_len=a.max_model_len,
                        enable_prefix_caching=not a.no_prefix_caching, device=a.device,
                        dtype=a.dtype, seed=a.seed,
                        swap_space_tokens=a.swap_space_tokens,
                        pause_timeout_s=a.pause_timeout_s,
                        num_speculative_tokens=a.num_speculative_tokens, **extra)


def _spec_arg(flag: str, value: str) -> dict[str, Any]:
    try:
        return load_spec(value)
    except ValueError as exc:
        raise SystemExit(f"{flag}: {exc}") from exc


def torch_threads(requested: int | None) -> int | None:
    """The intra-op thread count to set, or None to keep torch's ($OMP_NUM_THREADS is set).
    By default one core is left to the event loop and the handlers: on a CPU, torch's
    spinning workers on every core starve the HTTP thread (tiny model, 2 cores, 8 concurrent
    requests: 630 output tok/s with 2 threads, 2,000 with 1; benchmarks/bench_vllm_cpu.py)."""
    if requested is not None:
        if requested < 1:
            raise SystemExit(f"--threads must be at least 1, got {requested}")
        return requested
    if os.environ.get("OMP_NUM_THREADS"):
        return None
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return max(1, (usable or 1) - 1)


def main(argv: list[str] | None = None) -> None:
    """Build the engine and serve it with uvicorn until interrupted."""
    import torch
    import uvicorn

    a = parse_args(argv)
    logging.basicConfig(level=a.log_level.upper())
    threads = torch_threads(a.threads)
    if threads is not None:
        torch.set_num_threads(threads)
    app = build_app(engine_config_from_args(a), a.served_model_name)
    uvicorn.run(app, host=a.host, port=a.port, log_level=a.log_level, access_log=False,
                timeout_keep_alive=30)


if __name__ == "__main__":
    main()
