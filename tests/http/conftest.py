"""Fixtures of the HTTP tests: fake backends and a proxy, all on 127.0.0.1 in threads."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from omegaconf import OmegaConf

from tests.http.fake_backend import FakeBackend, ServerThread
from toolkit.http.proxy import build_proxy_app

ROUTER_CONF = Path(__file__).resolve().parents[2] / "toolkit" / "conf" / "router"


def router_config(option: str) -> dict[str, Any]:
    """The config node of router option `option` (its YAML in the router group)."""
    return dict(OmegaConf.to_container(OmegaConf.load(ROUTER_CONF / f"{option}.yaml")))


@pytest.fixture
def servers() -> Iterator[list[ServerThread]]:
    """Started servers, stopped at the end of the test."""
    started: list[ServerThread] = []
    yield started
    for s in reversed(started):
        s.stop()


@pytest.fixture
def backends(servers: list[ServerThread]) -> Callable[..., list[tuple[FakeBackend, ServerThread]]]:
    """`backends(n, token_delay_s)` starts `n` fake backends."""

    def start(n: int = 2, token_delay_s: float = 0.002) -> list[tuple[FakeBackend, ServerThread]]:
        out = []
        for i in range(n):
            fb = FakeBackend(str(i), token_delay_s)
            srv = ServerThread(fb.app).start()
            servers.append(srv)
            out.append((fb, srv))
        return out

    return start


@pytest.fixture
def proxy(servers: list[ServerThread]) -> Callable[..., tuple[Any, ServerThread]]:
    """`proxy(urls, router, **kw)` starts a proxy; returns (its RouterProxy, its server)."""

    def start(urls: list[str], router: str = "round_robin", **kw: Any) -> tuple[Any, ServerThread]:
        kw.setdefault("metrics_interval_s", 0.1)
        kw.setdefault("probe_min_s", 0.05)
        app = build_proxy_app(urls, router_config(router), **kw)
        srv = ServerThread(app).start()
        servers.append(srv)
        return app.state.proxy, srv

    return start
