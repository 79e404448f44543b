"""The Hydra-facing builder: names, options, errors."""

from __future__ import annotations

import pytest

from toolkit.core import ConfigError
from toolkit.workloads import WORKLOADS, make_workload, toolbench_trace


def test_make_workload_builds_each_synthetic_workload() -> None:
    for name in ("toolbench", "embodied", "programming", "videoqa", "loogle"):
        trace = make_workload(name, num_prefixes=4, num_requests=20, rps=2.0, seed=1)
        assert len(trace) == 20 and trace.name == name


def test_make_workload_equals_direct_call() -> None:
    opts = dict(num_prefixes=5, num_requests=40, rps=3.0, seed=2, arrival="gamma", cv=2.0)
    a, b = make_workload("toolbench", **opts), toolbench_trace(**opts)
    assert [(r.arrival_s, r.prompt_token_ids) for r in a] == [
        (r.arrival_s, r.prompt_token_ids) for r in b
    ]


def test_unknown_name_and_option_raise_config_error() -> None:
    with pytest.raises(ConfigError, match="workload.name") as err:
        make_workload("toolbnch")
    assert "toolbench" in str(err.value)
    with pytest.raises(ConfigError, match="workload.zipf"):
        make_workload("toolbench", zipf=1.1)
    with pytest.raises(ConfigError, match="arrival"):
        make_workload("videoqa", num_prefixes=2, num_requests=4, rps=1.0, arrival="bursty")


def test_trace_file_workloads(data_dir) -> None:
    path = data_dir / "mooncake_conversation_trace.jsonl"
    assert len(make_workload("trace", path=path, num_requests=7)) == 7
    assert len(make_workload("mooncake", path=path, num_requests=7)) == 7
    assert set(WORKLOADS) >= {"azure_mix", "azure", "trace"}


def test_hydra_instantiate_target() -> None:
    from hydra.utils import instantiate
    from omegaconf import OmegaConf

    cfg = OmegaConf.create(
        {"_target_": "toolkit.workloads.make_workload", "name": "loogle", "num_prefixes": 2,
         "num_requests": 4, "rps": 0.5, "doc_len": [3000, 100]}
    )
    trace = instantiate(cfg)
    assert len(trace) == 4 and all(2600 < r.prompt_len < 3500 for r in trace)
