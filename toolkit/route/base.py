"""The router contract: `route(request, view) -> engine_id`, plus feedback events.

A router sees engines only through a `ClusterView`, whose numbers are the same whether
they come from simulated engines, in-process engines or an HTTP server's metrics endpoint.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import NamedTuple, Protocol

from toolkit.core.request import Request


@dataclass(slots=True)
class EngineStats:
    """What a router may know of one engine right now."""

    engine_id: int
    num_running: int = 0
    num_waiting: int = 0
    num_waiting_tokens: int = 0
    kv_used_tokens: int = 0
    kv_capacity_tokens: int = 0
    window_hit_ratio: float = 0.0
    alive: bool = True

    @property
    def num_outstanding(self) -> int:
        return self.num_running + self.num_waiting


class ClusterView(Protocol):
    """Read-only view of the engines behind a router."""

    @property
    def num_engines(self) -> int: ...

    @property
    def now_s(self) -> float: ...

    def stats(self, engine_id: int) -> EngineStats: ...


class RequestEvent(NamedTuple):
    """Feedback a router receives: `kind` is 'first_token' or 'finish'.

    `ttft_s` is set for both kinds; `tpot_s` (mean time per output token after the first)
    only for 'finish'. `num_cached_tokens` is what the engine's cache actually hit.
    """

    kind: str
    request: Request
    engine_id: int
    time_s: float
    ttft_s: float
    tpot_s: float
    num_cached_tokens: int


class Router(ABC):
    """Chooses an engine for each request. Deterministic given its seed and inputs.

    `decision_s` is the mean time one `route()` call takes: the simulator charges it per
    request, one decision at a time (`backend.router_decision_s`); the engine and HTTP
    backends spend the real time instead. Subclasses set it from a measurement.
    """

    decision_s: float = 0.0

    @abstractmethod
    def route(self, request: Request, view: ClusterView) -> int:
        """Return the id (0..num_engines-1) of a live engine to serve `request`."""

    def observe(self, event: RequestEvent) -> None:  # noqa: B027 - optional hook
        """Feedback after routing; the default ignores it."""

    @staticmethod
    def live_engines(view: ClusterView) -> list[int]:
        """Ids of the engines that are alive (all of them if none reports dead).

        A view may answer this itself with a `live_engine_ids()` method (the simulator's
        engines never die), sparing a statistics read per engine."""
        fast = getattr(view, "live_engine_ids", None)
        ids = fast() if fast is not None else [
            i for i in range(view.num_engines) if view.stats(i).alive]
        if not ids:
            raise RuntimeError("no live engine to route to")
        return ids
