"""Two engine servers behind the router proxy, driven by the load client."""

from __future__ import annotations

import random
from pathlib import Path

import httpx

from tests.serve.conftest import ServerThread


def test_load_client_through_proxy_to_two_engine_servers(tiny_model_dir: Path):
    from toolkit.core.request import Request
    from toolkit.core.trace import Trace
    from toolkit.engine.config import EngineConfig
    from toolkit.http.client import replay
    from toolkit.http.proxy import build_proxy_app
    from toolkit.serve.server import build_app

    started: list[ServerThread] = []
    try:
        for engine_id in range(2):
            app = build_app(EngineConfig(model=str(tiny_model_dir), num_kv_blocks=256,
                                         block_size=4, engine_id=engine_id))
            started.append(ServerThread(app).start())
        proxy = build_proxy_app([s.url for s in started],
                                {"_target_": "toolkit.route.least_load.LeastLoadRouter"},
                                metrics_interval_s=0.1)
        started.append(ServerThread(proxy).start())
        rng = random.Random(5)
        prefix = [rng.randrange(3, 768) for _ in range(32)]
        trace = Trace([Request(id=f"r{i}", arrival_s=0.01 * i, output_len=rng.randint(2, 6),
                               prompt_token_ids=prefix + [rng.randrange(3, 768) for _ in range(8)])
                       for i in range(40)])
        records = replay(trace, started[-1].url, progress=False, timeout_s=60)
        assert not any(r.failed for r in records), [r.error for r in records if r.failed][:3]
        assert [r.num_output_tokens for r in records] == [r.output_len for r in trace]
        assert {r.engine_id for r in records} <= {0, 1}
        assert sum(r.num_cached_tokens for r in records) > 0
        polled = httpx.get(f"{started[-1].url}/metrics", timeout=10).json()
        assert polled, polled
    finally:
        for s in reversed(started):
            s.stop()
