"""backend=http against two real vLLM servers: Preble keeps its hit-ratio advantage."""

from __future__ import annotations

import pytest

from experiments.common.runner import run_config
from experiments.common.sweep import compose_config

MODULE = "experiments.preble.conf"
WORKLOAD = ["workload=toolbench", "workload.num_requests=80", "workload.num_prefixes=20",
            "workload.rps=8", "trace.keep_every=16", "trace.vocab_size=768",
            "trace.max_output_len=8", "model=llama3-8b", "gpu=h200", "cost=profiled"]


@pytest.mark.vllm
@pytest.mark.xdist_group("vllm")
def test_preble_beats_round_robin_in_hit_ratio_on_vllm(vllm_pair, vllm_model_dir, tmp_path):
    urls = ",".join(h.url for h in vllm_pair)
    hits = {}
    for system in ("sglang_rr", "preble"):
        cfg = compose_config(MODULE, [f"system={system}", "backend=http", f"backend.urls=[{urls}]",
                                      f"backend.served_model={vllm_model_dir}", *WORKLOAD])
        df, summary = run_config(cfg, tmp_path / system)
        assert not df["failed"].any(), df.loc[df["failed"], "error"].head()
        assert set(df["engine_id"]) == {0, 1}
        hits[system] = summary["cache_hit_ratio"]
    assert hits["preble"] > hits["sglang_rr"] > 0, hits
