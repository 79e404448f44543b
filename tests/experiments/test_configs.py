"""Every config option composes and builds; bad options fail at once, naming the option."""

from __future__ import annotations

from pathlib import Path

import pytest
from hydra.errors import ConfigCompositionException, InstantiationException
from hydra.utils import instantiate

from experiments.common.runner import build_sim_cluster, build_trace, kv_capacity
from experiments.common.sweep import compose_config
from toolkit.core.errors import ConfigError, TraceFormatError
from toolkit.cost.base import CostModel
from toolkit.route.base import Router
from toolkit.sched.base import LocalScheduler

MODULE = "experiments.preble.conf"
ROOT = Path(__file__).resolve().parents[2]
CONFS = (ROOT / "toolkit" / "conf", ROOT / "experiments" / "preble" / "conf")


def _options(group: str) -> list[str]:
    return sorted(p.stem for conf in CONFS for p in (conf / group).glob("*.yaml"))


@pytest.mark.parametrize("router", _options("router"))
def test_every_router_builds(router):
    cfg = compose_config(MODULE, [f"router={router}"])
    r = instantiate(cfg.router)(num_engines=3, seed=0, cost=instantiate(cfg.cost))
    assert isinstance(r, Router)


@pytest.mark.parametrize("sched", _options("local_sched"))
def test_every_local_scheduler_builds(sched):
    cfg = compose_config(MODULE, [f"local_sched={sched}"])
    assert isinstance(instantiate(cfg.local_sched)(), LocalScheduler)


@pytest.mark.parametrize("model,gpu,cost,tp", [
    ("mistral-7b", "a6000", "preble_fit", 1), ("llama3-8b", "h200", "profiled", 1),
    ("llama3-70b", "h200", "profiled", 4), ("llama3-8b", "l4", "roofline", 1),
    ("llama3-70b", "h100", "roofline", 4),
])
def test_cost_models_and_capacity(model, gpu, cost, tp):
    cfg = compose_config(MODULE, [f"model={model}", f"gpu={gpu}", f"cost={cost}",
                                  f"cluster.tp={tp}", f"cluster.num_gpus={tp}"])
    assert isinstance(instantiate(cfg.cost), CostModel)
    assert kv_capacity(cfg) > 10_000


@pytest.mark.parametrize("workload", [w for w in _options("workload") if w != "trace_file"])
def test_every_workload_builds(workload, request):
    if workload in ("azure_mix", "mooncake"):
        request.getfixturevalue("data_dir")  # real traces from ../shared/data (skips if absent)
    small = {"azure_mix": ["workload.tool_prefixes=20", "workload.tool_requests=60",
                           "workload.video_prefixes=5", "workload.video_requests=20"],
             "mooncake": ["workload.num_requests=50"]}
    ov = small.get(workload, ["workload.num_requests=60", "workload.num_prefixes=6"])
    trace = build_trace(compose_config(MODULE, [f"workload={workload}", *ov]))
    assert len(trace) > 0 and trace.name == workload


def test_unknown_option_names_the_option():
    with pytest.raises(ConfigCompositionException, match="router.no_such_knob"):
        compose_config(MODULE, ["router.no_such_knob=1"])
    with pytest.raises(ConfigCompositionException, match="router"):
        compose_config(MODULE, ["router=no_such_router"])


def test_model_that_cannot_fit_fails_at_once():
    cfg = compose_config(MODULE, ["model=llama3-70b", "gpu=a6000", "cost=roofline"])
    with pytest.raises(ConfigError, match="llama3-70b"):
        kv_capacity(cfg)


def test_bad_engine_count_names_cluster_option():
    cfg = compose_config(MODULE, ["cluster.num_gpus=3", "cluster.tp=2", "cost=roofline"])
    with pytest.raises(ConfigError, match="cluster.num_gpus"):
        build_sim_cluster(cfg, instantiate(cfg.cost), 1)


def test_router_decision_time_option():
    cost = instantiate(compose_config(MODULE, []).cost)
    cfg = compose_config(MODULE, ["router=preble_e2"])
    assert build_sim_cluster(cfg, cost, 1).router_decision_s == 1.0e-4  # the router's own
    cfg = compose_config(MODULE, ["backend.router_decision_s=0"])
    assert build_sim_cluster(cfg, cost, 1).router_decision_s == 0.0
    for bad in ("-1", "soon"):
        cfg = compose_config(MODULE, [f"backend.router_decision_s={bad}"])
        with pytest.raises(ConfigError, match="backend.router_decision_s"):
            build_sim_cluster(cfg, cost, 1)


def test_malformed_trace_line_names_file_and_line(tmp_path):
    path = tmp_path / "bad.jsonl"
    path.write_text('{"id": "a", "arrival_s": 0, "output_len": 3, "prompt_token_ids": [1, 2]}\n'
                    '{"id": "b", "arrival_s": 1, "output_len": "x", "prompt_token_ids": [1]}\n')
    cfg = compose_config(MODULE, ["workload=trace_file", f"workload.path={path}"])
    with pytest.raises(InstantiationException, match=r"bad.jsonl:2: output_len"):
        build_trace(cfg)
    with pytest.raises(TraceFormatError, match=r"bad.jsonl:2"):
        from toolkit.core.trace import Trace

        Trace.from_jsonl(path)
