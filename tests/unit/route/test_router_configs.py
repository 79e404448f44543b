"""Every router YAML builds through Hydra's instantiate and routes a request."""

from __future__ import annotations

from pathlib import Path

import pytest
from hydra.utils import instantiate
from omegaconf import OmegaConf

from toolkit.route.base import Router
from toolkit.route.testing import LinearCostModel, StaticView, make_request

CONF = Path(__file__).resolve().parents[3] / "toolkit" / "conf" / "router"
NAMES = ["round_robin", "least_load", "consistent_hash", "cache_aware", "preble_e2"]


@pytest.mark.parametrize("name", NAMES)
def test_yaml_builds_a_router(name: str) -> None:
    factory = instantiate(OmegaConf.load(CONF / f"{name}.yaml"))
    router = factory(num_engines=3, cost=LinearCostModel(), seed=1)
    assert isinstance(router, Router)
    assert router.route(make_request(0, range(20)), StaticView.of(3)) in range(3)
