"""A router proxy: one OpenAI-compatible endpoint in front of N backend servers.

Each `/v1/completions` request is turned into a `Request` (token ids from the prompt, or
from a tokenizer for text prompts), routed by any toolkit router over a `BackendView`, and
forwarded, streamed or not, to the chosen backend; the response carries `x-backend-id`.
First-token and finish events go back to the router, so Preble's E2 keeps its global radix
tree from the prompts it forwards. A backend that fails (connection error, dropped stream
or 5xx) is marked dead and the request gets a 502 naming the reason; health probes bring
the backend back. `GET /metrics` reports per-backend outstanding, routed and failed counts.

    python -m toolkit.http.proxy --backend http://127.0.0.1:8001 \
        --backend http://127.0.0.1:8002 \
        --router-config toolkit/conf/router/preble_e2.yaml --port 8000
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncIterator, Mapping
from typing import Any

import httpx
from fastapi import FastAPI
from fastapi import Request as HttpRequest
from fastapi.responses import JSONResponse, Response

from toolkit.core.policy import load_spec, resolve_policy
from toolkit.core.request import Request
from toolkit.cost.base import CostModel
from toolkit.http.protocol import CompletionRequest, error_body, parse_completion_request
from toolkit.http.proxy_view import BackendView, Forwarder, parse_backend_metrics
from toolkit.route.base import Router

log = logging.getLogger(__name__)

ROUND_ROBIN = {"_target_": "toolkit.route.round_robin.RoundRobinRouter"}
"""The proxy's router unless told otherwise (a policy config node, see toolkit.core.policy)."""


def build_router(spec: Mapping[str, Any], num_engines: int, seed: int = 0,
                 cost: CostModel | None = None) -> Router:
    """The router a config node describes, built as the simulator builds it
    (`num_engines`, `seed`, `cost`). Without `cost`, a roofline model of Llama-3-8B on an
    H100 is used (E2 needs one)."""
    if cost is None:
        from toolkit.cost.factory import make_cost_model

        cost = make_cost_model("roofline", "llama3-8b", "h100")
    return resolve_policy(spec, Router, "router", num_engines=num_engines, seed=seed, cost=cost)


class PromptTokenizer:
    """Token ids for routing: a Hugging Face tokenizer from `path`, or, without one, the
    prompt's UTF-8 bytes (deterministic; prefixes of text stay prefixes of ids)."""

    def __init__(self, path: str | None = None) -> None:
        self.path = path
        self._tok: Any = None
        if path is not None:
            from transformers import AutoTokenizer

            self._tok = AutoTokenizer.from_pretrained(path)
        else:
            log.warning("no --tokenizer given: text prompts are routed on their UTF-8 bytes")

    def ids(self, prompt: str | list[int]) -> tuple[int, ...]:
        """The token ids of one prompt (token-id prompts pass through)."""
        if not isinstance(prompt, str):
            return tuple(prompt)
        if self._tok is None:
            return tuple(prompt.encode("utf-8"))
        return tuple(self._tok.encode(prompt))


class RouterProxy:
    """The proxy's state: backends, router, tokenizer, HTTP client and probe task."""

    def __init__(self, view: BackendView, router: Router, tokenizer: PromptTokenizer, *,
                 request_timeout_s: float = 600.0, metrics_interval_s: float = 1.0,
                 max_connections: int = 2048) -> None:
        self.view = view
        self.router = router
        self.tokenizer = tokenizer
        self.request_timeout_s = request_timeout_s
        self.metrics_interval_s = metrics_interval_s
        self.max_connections = max_connections
        self.client: httpx.AsyncClient | None = None
        self.forwarder: Forwarder | None = None
        self._task: asyncio.Task | None = None
        self._num_requests = 0

    def ensure_started(self) -> Forwarder:
        """Create the HTTP client and start the probe loop (once, inside the event loop)."""
        if self.client is None:
            limits = httpx.Limits(max_connections=self.max_connections,
                                  max_keepalive_connections=self.max_connections)
            timeout = httpx.Timeout(self.request_timeout_s, connect=5.0)
            self.client = httpx.AsyncClient(limits=limits, timeout=timeout)
            self.forwarder = Forwarder(self.view, self.router, self.client)
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._probe_loop())
        assert self.forwarder is not None
        return self.forwarder

    async def aclose(self) -> None:
        """Stop probing and close connections."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
        if self.client is not None:
            await self.client.aclose()
        self.client, self.forwarder, self._task = None, None, None

    async def completions(self, raw: HttpRequest) -> Response:
        """Validate, route and forward one `/v1/completions` request (a batch of prompts
        is routed by its first prompt and sent whole to one backend)."""
        fwd = self.ensure_started()
        try:
            body = json.loads(await raw.body())
            req = parse_completion_request(body)
        except ValueError as e:  # json.JSONDecodeError is a ValueError
            return JSONResponse(error_body(f"invalid request: {e}"), status_code=400)
        request = self._to_request(req)
        try:
            engine_id = self.router.route(request, self.view)
        except RuntimeError as e:
            return JSONResponse(error_body(f"no backend available: {e}", "service_unavailable",
                                           code=503), status_code=503)
        except Exception as e:  # a router that cannot place the request: say why
            log.exception("router failed on %s", request.id)
            return JSONResponse(error_body(f"router failed: {type(e).__name__}: {e}",
                                           "server_error", code=500), status_code=500)
        return await fwd.forward(engine_id, request, body, stream=req.stream)

    def _to_request(self, req: CompletionRequest) -> Request:
        self._num_requests += 1
        prompts = req.prompts()
        ids = self.tokenizer.ids(prompts[0])
        return Request(f"proxy-{self._num_requests}", self.view.now_s, req.max_tokens,
                       prompt_token_ids=ids)

    async def models(self) -> Response:
        """`/v1/models` of the first live backend that answers."""
        self.ensure_started()
        assert self.client is not None
        for b in self.view.backends:
            if not b.alive:
                continue
            try:
                r = await self.client.get(f"{b.url}/v1/models", timeout=5.0)
            except httpx.HTTPError as e:
                self.view.mark_dead(b.engine_id, f"/v1/models: {type(e).__name__}: {e}")
                continue
            if r.status_code == 200:
                return Response(r.content, media_type="application/json")
        return JSONResponse(error_body("no live backend answered /v1/models",
                                       "service_unavailable", code=503), status_code=503)

    async def health(self) -> Response:
        """200 while some backend is believed alive, else 503."""
        live = len(self.view.live_ids())
        body = {"status": "ok" if live else "no live backend", "num_live": live,
                "num_backends": self.view.num_engines}
        return JSONResponse(body, status_code=200 if live else 503)

    async def metrics(self) -> Response:
        """Per-backend outstanding, routed and failed counts, and polled backend metrics."""
        return JSONResponse(self.view.to_json())

    async def _probe_loop(self, tick_s: float = 0.05) -> None:
        """Probe dead backends' /health on their backoff; poll live backends' /metrics."""
        next_poll = 0.0
        while True:
            await asyncio.sleep(tick_s)
            due = self.view.due_probes()
            if due:
                await asyncio.gather(*(self._probe(i) for i in due))
            if self.metrics_interval_s > 0 and self.view.now_s >= next_poll:
                next_poll = self.view.now_s + self.metrics_interval_s
                polls = [b.engine_id for b in self.view.backends
                         if b.alive and b.has_metrics is not False]
                await asyncio.gather(*(self._poll_metrics(i) for i in polls))

    async def _probe(self, engine_id: int) -> None:
        assert self.client is not None
        b = self.view.backends[engine_id]
        try:
            r = await self.client.get(f"{b.url}/health", timeout=2.0)
            ok = r.status_code == 200
        except httpx.HTTPError:
            ok = False
        if ok:
            log.info("backend %d (%s) is back", engine_id, b.url)
            self.view.mark_alive(engine_id)
        else:
            self.view.probe_failed(engine_id)

    async def _poll_metrics(self, engine_id: int) -> None:
        assert self.client is not None
        b = self.view.backends[engine_id]
        try:
            r = await self.client.get(f"{b.url}/metrics", timeout=2.0)
        except httpx.ConnectError as e:
            self.view.mark_dead(engine_id, f"/metrics: connection failed: {e}")
            return
        except httpx.HTTPError:
            return
        parsed = None
        if r.status_code == 200:
            parsed = parse_backend_metrics(r.headers.get("content-type", ""), r.text)
        b.has_metrics = parsed is not None
        if parsed is not None:
            b.polled = parsed


def build_proxy_app(backends: list[str], router: Router | Mapping[str, Any] = ROUND_ROBIN, *,
                    tokenizer: str | PromptTokenizer | None = None, seed: int = 0,
                    cost: CostModel | None = None, request_timeout_s: float = 600.0, metrics_interval_s: float = 1.0,
                    probe_min_s: float = 0.25, probe_max_s: float = 8.0) -> FastAPI:
    """The proxy as an ASGI app over `backends` (base URLs, engine ids in this order).

    `router` is a Router or its config node (`_target_` and settings; built with `seed` and
    `cost` by `build_router`);
    `tokenizer` is a Hugging Face tokenizer directory (or a PromptTokenizer) for text
    prompts. The app's `state.proxy` is the `RouterProxy`.
    """
    view = BackendView(backends, probe_min_s, probe_max_s)
    if not isinstance(router, Router):
        router = build_router(router, view.num_engines, seed, cost)
    tok = tokenizer if isinstance(tokenizer, PromptTokenizer) else PromptTokenizer(tokenizer)
    proxy = RouterProxy(view, router, tok, request_timeout_s=request_timeout_s,
                        metrics_interval_s=metrics_interval_s)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        proxy.ensure_started()
        yield
        await proxy.aclose()

    app = FastAPI(title="toolkit router proxy", lifespan=lifespan)
    app.state.proxy = proxy
    app.add_api_route("/v1/completions", proxy.completions, methods=["POST"])
    app.add_api_route("/v1/models", proxy.models, methods=["GET"])
    app.add_api_route("/health", proxy.health, methods=["GET"])
    app.add_api_route("/metrics", proxy.metrics, methods=["GET"])
    return app


def _knob(text: str) -> tuple[str, Any]:
    key, sep, value = text.partition("=")
    if not sep:
        raise argparse.ArgumentTypeError(f"--router-arg wants KEY=VALUE, got {text!r}")
    try:
        return key, json.loads(value)
    except ValueError:
        return key, value


def main(argv: list[str] | None = None) -> None:
    """Command line: serve the proxy with uvicorn."""
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--backend", action="append", required=True, help="backend base URL")
    p.add_argument("--router-config", default=None,
                   help="the router's config node (`_target_` and settings) as a JSON object "
                        "or a .json/.yaml file, e.g. toolkit/conf/router/preble_e2.yaml "
                        "(default: round-robin)")
    p.add_argument("--router-arg", action="append", type=_knob, default=[],
                   help="a router setting over the config's, KEY=VALUE (VALUE parsed as "
                        "JSON when it can be)")
    p.add_argument("--tokenizer", default=None, help="HF tokenizer directory for text prompts")
    p.add_argument("--cost-kind", default="roofline")
    p.add_argument("--cost-model", default="llama3-8b")
    p.add_argument("--cost-gpu", default="h100")
    p.add_argument("--cost-tp", type=int, default=1)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8000)
    p.add_argument("--metrics-interval", type=float, default=1.0)
    a = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO)
    logging.getLogger("httpx").setLevel(logging.WARNING)
    import uvicorn

    from toolkit.cost.factory import make_cost_model

    try:
        spec = ROUND_ROBIN if a.router_config is None else load_spec(a.router_config)
    except ValueError as exc:
        p.error(f"--router-config: {exc}")
    cost = make_cost_model(a.cost_kind, a.cost_model, a.cost_gpu, a.cost_tp)
    app = build_proxy_app(a.backend, {**spec, **dict(a.router_arg)}, tokenizer=a.tokenizer,
                          seed=a.seed, cost=cost, metrics_interval_s=a.metrics_interval)
    uvicorn.run(app, host=a.host, port=a.port, log_level="warning", backlog=4096)


if __name__ == "__main__":
    main()
