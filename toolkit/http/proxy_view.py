"""The router proxy's backends: a `ClusterView` over HTTP servers, and the forwarder.

Load comes from the proxy's own count of outstanding requests per backend (every request it
forwards and has not seen finish counts as running). When a backend exposes metrics, its
cache statistics are polled too: the toolkit's server answers `GET /metrics` with JSON
(`num_running`, `num_waiting`, `kv_used_tokens`, `kv_capacity_tokens`, `window_hit_ratio`);
vLLM answers Prometheus text, of which `vllm:num_requests_running` and
`vllm:num_requests_waiting` are read. A backend that fails is marked dead and probed with
`GET /health` on an exponential backoff until it answers 200 again.
"""

from __future__ import annotations

import contextlib
import json
import logging
import re
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import httpx
from fastapi.responses import JSONResponse, Response, StreamingResponse

from toolkit.core.request import Request
from toolkit.http.protocol import error_body, sse_info, usage_counts
from toolkit.route.base import EngineStats, RequestEvent, Router

log = logging.getLogger(__name__)

_PROM_LINE = re.compile(r"^(vllm:num_requests_(?:running|waiting))(?:\{[^}]*\})?\s+(\S+)")


@dataclass
class BackendState:
    """One backend: its URL, the proxy's counters, and what its metrics last said."""

    engine_id: int
    url: str
    alive: bool = True
    outstanding: int = 0
    routed: int = 0
    failures: int = 0
    last_error: str = ""
    dead_since_s: float | None = None
    next_probe_s: float = 0.0
    backoff_s: float = 0.0
    has_metrics: bool | None = None  # None: not asked yet; False: no usable /metrics
    polled: dict[str, float] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        """The backend's entry in the proxy's `/metrics`."""
        return {
            "engine_id": self.engine_id, "url": self.url, "alive": self.alive,
            "outstanding": self.outstanding, "routed": self.routed,
            "failures": self.failures, "last_error": self.last_error,
            "backend_metrics": dict(self.polled),
        }


class BackendView:
    """A `ClusterView` over HTTP backends, with the bookkeeping the proxy needs.

    `num_running` is the proxy's own outstanding count (it sees every request it forwards);
    `num_waiting`, KV usage and the windowed hit ratio come from the backend's metrics when
    it publishes them. Backoff between health probes of a dead backend doubles from
    `probe_min_s` up to `probe_max_s`.
    """

    def __init__(self, urls: list[str], probe_min_s: float = 0.25,
                 probe_max_s: float = 8.0) -> None:
        if not urls:
            raise ValueError("the proxy needs at least one backend URL")
        self.backends = [BackendState(i, u.rstrip("/")) for i, u in enumerate(urls)]
        self.probe_min_s = probe_min_s
        self.probe_max_s = probe_max_s
        self._t0 = time.monotonic()

    @property
    def num_engines(self) -> int:
        return len(self.backends)

    @property
    def now_s(self) -> float:
        return time.monotonic() - self._t0

    def stats(self, engine_id: int) -> EngineStats:
        """The router's view of backend `engine_id` right now."""
        b = self.backends[engine_id]
        p = b.polled
        return EngineStats(
            engine_id,
            num_running=b.outstanding,
            num_waiting=int(p.get("num_waiting", 0)),
            kv_used_tokens=int(p.get("kv_used_tokens", 0)),
            kv_capacity_tokens=int(p.get("kv_capacity_tokens", 0)),
            window_hit_ratio=float(p.get("window_hit_ratio", 0.0)),
            alive=b.alive,
        )

    def live_ids(self) -> list[int]:
        """Ids of the backends believed alive."""
        return [b.engine_id for b in self.backends if b.alive]

    def mark_dead(self, engine_id: int, reason: str) -> None:
        """Record a failure; the backend leaves the routers' live set until a probe succeeds."""
        b = self.backends[engine_id]
        b.failures += 1
        b.last_error = reason
        if b.alive:
            b.alive = False
            b.dead_since_s = self.now_s
            b.backoff_s = self.probe_min_s
            b.next_probe_s = self.now_s + b.backoff_s

    def probe_failed(self, engine_id: int) -> None:
        """A health probe of a dead backend failed: wait twice as long for the next one."""
        b = self.backends[engine_id]
        b.backoff_s = min(max(b.backoff_s * 2, self.probe_min_s), self.probe_max_s)
        b.next_probe_s = self.now_s + b.backoff_s

    def mark_alive(self, engine_id: int) -> None:
        """A health probe succeeded: the backend is routable again."""
        b = self.backends[engine_id]
        b.alive = True
        b.dead_since_s = None
        b.backoff_s = 0.0

    def due_probes(self) -> list[int]:
        """Dead backends whose next health probe is due."""
        now = self.now_s
        return [b.engine_id for b in self.backends if not b.alive and b.next_probe_s <= now]

    def to_json(self) -> dict[str, Any]:
        """The proxy's `/metrics` body."""
        return {
            "num_backends": self.num_engines,
            "num_live": len(self.live_ids()),
            "backends": [b.to_json() for b in self.backends],
        }


def parse_backend_metrics(content_type: str, text: str) -> dict[str, float] | None:
    """Numbers a router can use from a backend's `/metrics` body, or None if none are found.

    JSON bodies (the toolkit's server) are read by key; Prometheus text (vLLM) gives
    `num_running` and `num_waiting` summed over label sets.
    """
    keys = ("num_running", "num_waiting", "kv_used_tokens", "kv_capacity_tokens",
            "window_hit_ratio")
    if "json" in content_type or text.lstrip().startswith("{"):
        try:
            obj = json.loads(text)
        except ValueError:
            return None
        if not isinstance(obj, dict):
            return None
        out = {k: float(obj[k]) for k in keys if isinstance(obj.get(k), (int, float))}
        return out or None
    out: dict[str, float] = {}
    for line in text.splitlines():
        m = _PROM_LINE.match(line)
        if m:
            name = "num_running" if m.group(1).endswith("running") else "num_waiting"
            try:
                out[name] = out.get(name, 0.0) + float(m.group(2))
            except ValueError:
                continue
    return out or None


class Forwarder:
    """Sends routed requests to backends, relays the answers and feeds the router events.

    Every request ends with exactly one response: the backend's, or an error naming the
    backend and the failure (502 for a dead backend, 504 for a timeout). A backend that
    drops a stream midway gets its client an SSE `error` event before the stream ends.
    """

    def __init__(self, view: BackendView, router: Router, client: httpx.AsyncClient) -> None:
        self.view = view
        self.router = router
        self.client = client

    async def forward(self, engine_id: int, request: Request, body: dict, stream: bool
                      ) -> Response:
        """Forward `body` to backend `engine_id`; `request` is what the router routed."""
        b = self.view.backends[engine_id]
        b.outstanding += 1
        b.routed += 1
        start = self.view.now_s
        headers = {"x-backend-id": str(engine_id)}
        try:
            up = await self.client.send(
                self.client.build_request("POST", f"{b.url}/v1/completions", json=body),
                stream=True)
        except httpx.HTTPError as e:
            self._finish(engine_id, request, start, None, 0, 0)
            return self._failure(engine_id, e, headers)
        if up.status_code >= 500:
            text = (await _read_quietly(up))[:300]
            self._finish(engine_id, request, start, None, 0, 0)
            reason = f"backend {engine_id} ({b.url}) answered {up.status_code}: {text}"
            self.view.mark_dead(engine_id, reason)
            return JSONResponse(error_body(reason, "bad_gateway", code=502), 502,
                                headers=headers)
        if stream and up.status_code == 200:
            return StreamingResponse(self._relay(up, engine_id, request, start),
                                     media_type="text/event-stream", headers=headers)
        return await self._whole(up, engine_id, request, start, headers)

    async def _whole(self, up: httpx.Response, engine_id: int, request: Request, start: float,
                     headers: dict[str, str]) -> Response:
        try:
            content = await up.aread()
        except httpx.HTTPError as e:
            self._finish(engine_id, request, start, None, 0, 0)
            return self._failure(engine_id, e, headers)
        finally:
            await up.aclose()
        n_out, cached = 0, 0
        if up.status_code == 200:
            with contextlib.suppress(ValueError):
                n_out, cached = usage_counts(json.loads(content).get("usage"))
        first = self.view.now_s if up.status_code == 200 else None
        self._finish(engine_id, request, start, first, n_out, cached)
        return Response(content, up.status_code, headers=headers,
                        media_type=up.headers.get("content-type", "application/json"))

    async def _relay(self, up: httpx.Response, engine_id: int, request: Request,
                     start: float) -> AsyncIterator[bytes]:
        first: float | None = None
        n_chunks, n_out, cached = 0, 0, 0
        try:
            async for line in up.aiter_lines():
                has_text, usage, _ = sse_info(line)
                if has_text:
                    n_chunks += 1
                    if first is None:
                        first = self.view.now_s
                        self._event("first_token", engine_id, request, first - start, 0.0, 0)
                if usage is not None:
                    n_out, cached = usage_counts(usage)
                yield (line + "\n").encode()
        except httpx.HTTPError as e:
            reason = self._reason(engine_id, e)
            self.view.mark_dead(engine_id, reason)
            yield f"data: {json.dumps(error_body(reason, 'bad_gateway', code=502))}\n\n".encode()
        finally:
            await up.aclose()
            self._finish(engine_id, request, start, first, n_out or n_chunks, cached)

    def _reason(self, engine_id: int, exc: Exception) -> str:
        url = self.view.backends[engine_id].url
        return f"backend {engine_id} ({url}) failed: {type(exc).__name__}: {exc}"

    def _failure(self, engine_id: int, exc: httpx.HTTPError, headers: dict[str, str]
                 ) -> Response:
        reason = self._reason(engine_id, exc)
        if isinstance(exc, httpx.TimeoutException) and not isinstance(exc, httpx.ConnectTimeout):
            self.view.backends[engine_id].failures += 1
            return JSONResponse(error_body(reason, "timeout", code=504), 504, headers=headers)
        self.view.mark_dead(engine_id, reason)
        return JSONResponse(error_body(reason, "bad_gateway", code=502), 502, headers=headers)

    def _finish(self, engine_id: int, request: Request, start: float, first: float | None,
                n_out: int, cached: int) -> None:
        self.view.backends[engine_id].outstanding -= 1
        now = self.view.now_s
        ttft = (first if first is not None else now) - start
        tpot = (now - first) / (n_out - 1) if first is not None and n_out > 1 else 0.0
        self._event("finish", engine_id, request, ttft, tpot, cached)

    def _event(self, kind: str, engine_id: int, request: Request, ttft_s: float,
               tpot_s: float, cached: int) -> None:
        event = RequestEvent(kind, request, engine_id, self.view.now_s, ttft_s, tpot_s, cached)
        try:
            self.router.observe(event)
        except Exception:  # a router bug must not lose the response
            log.exception("router.observe(%s) failed for %s", kind, request.id)


async def _read_quietly(up: httpx.Response) -> str:
    try:
        return (await up.aread()).decode("utf-8", "replace")
    except httpx.HTTPError:
        return ""
    finally:
        await up.aclose()
