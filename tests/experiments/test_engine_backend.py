"""backend=engine: two engine server processes behind the router proxy, end to end."""

from __future__ import annotations

import pytest

from experiments.common.runner import run_config
from experiments.common.sweep import compose_config

MODULE = "experiments.preble.conf"
REAL = ["backend=engine", "workload=toolbench", "workload.num_requests=80",
        "workload.num_prefixes=8", "workload.rps=10", "trace.keep_every=16",
        "trace.vocab_size=768", "trace.max_output_len=8", "model=llama3-8b", "gpu=h200",
        "cost=profiled", "backend.num_kv_blocks=48"]


@pytest.mark.slow
def test_preble_beats_round_robin_in_hit_ratio_on_the_engine(tmp_path):
    hits = {}
    for system in ("sglang_rr", "preble"):
        df, summary = run_config(compose_config(MODULE, [f"system={system}", *REAL]),
                                 tmp_path / system)
        assert not df["failed"].any(), df.loc[df["failed"], "error"].head()
        assert (df["num_output_tokens"] > 0).all() and set(df["engine_id"]) == {0, 1}
        hits[system] = summary["cache_hit_ratio"]
    assert hits["preble"] > hits["sglang_rr"], hits
