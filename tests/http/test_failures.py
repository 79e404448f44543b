"""A backend that dies or breaks: failures recorded, routing moves on, recovery."""

from __future__ import annotations

import threading
import time

import httpx

from tests.http.fake_backend import kill_backend
from toolkit.http.client import replay

from .test_client import make_trace
from .test_proxy import wait_until


def test_backend_killed_mid_run(backends, proxy) -> None:
    bs = backends(2, token_delay_s=0.01)
    px, srv = proxy([s.url for _, s in bs], "round_robin")
    trace = make_trace(80, spread_s=1.6, max_output=20)
    kill_at_s = 0.5
    killer = threading.Timer(kill_at_s, kill_backend, args=bs[1])
    killer.start()
    try:
        records = replay(trace, srv.url, progress=False, timeout_s=20.0)
    finally:
        killer.join(10.0)
    assert [r.request_id for r in records] == [r.id for r in trace]  # none dropped
    failed = [r for r in records if r.failed]
    assert failed, "requests in flight on the killed backend must be marked failed"
    assert all(r.error and r.engine_id == 1 for r in failed)
    late = [r for r in records if r.arrival_s > kill_at_s + 0.3]
    assert late and all(not r.failed and r.engine_id == 0 for r in late)
    m = httpx.get(f"{srv.url}/metrics").json()["backends"]
    assert m[1]["alive"] is False and m[1]["failures"] >= 1 and m[1]["last_error"]
    assert m[0]["alive"] is True and m[0]["failures"] == 0
    assert wait_until(lambda: all(b.outstanding == 0 for b in px.view.backends))


def test_5xx_marks_dead_then_health_probe_revives(backends, proxy) -> None:
    bs = backends(2)
    px, srv = proxy([s.url for _, s in bs], "round_robin", metrics_interval_s=0.0)
    bs[0][0].broken = True
    r = httpx.post(f"{srv.url}/v1/completions", json={"prompt": [1], "max_tokens": 1})
    assert r.status_code == 502 and "answered 500" in r.json()["error"]["message"]
    assert not px.view.backends[0].alive
    ids = {httpx.post(f"{srv.url}/v1/completions", json={"prompt": [i], "max_tokens": 1})
           .headers["x-backend-id"] for i in range(4)}
    assert ids == {"1"}
    bs[0][0].broken = False
    deadline = time.monotonic() + 5.0
    while not px.view.backends[0].alive and time.monotonic() < deadline:
        time.sleep(0.02)
    assert px.view.backends[0].alive
