"""Adding a policy is one `.py` and one `.yaml`, from any folder: it then appears in every
paper's app (through Hydra's search path), runs on the simulator, and builds in the proxy."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
from hydra.utils import instantiate

from experiments.common.runner import run_config
from experiments.common.sweep import compose_config

MODULE = '''
from toolkit.route.base import Router


class ShortQueueRouter(Router):
    """The live engine with the fewest waiting requests (ties: the lowest id)."""

    def __init__(self, num_engines, seed=0, cost=None, tie_break="lowest"):
        self.num_engines, self.tie_break = num_engines, tie_break

    def route(self, request, view):
        live = [i for i in range(view.num_engines) if view.stats(i).alive]
        return min(live, key=lambda i: (view.stats(i).num_waiting, i))
'''

YAML = '''
_target_: my_policies.short_queue.ShortQueueRouter
_partial_: true
tie_break: lowest
'''


@pytest.fixture
def my_conf(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A folder holding a router module and its config node, as a user would write them."""
    pkg = tmp_path / "my_policies"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "short_queue.py").write_text(textwrap.dedent(MODULE))
    conf = tmp_path / "myconf" / "router"
    conf.mkdir(parents=True)
    (conf / "short_queue.yaml").write_text(textwrap.dedent(YAML))
    monkeypatch.syspath_prepend(str(tmp_path))
    return conf.parent


@pytest.mark.parametrize("module", ["experiments.preble.conf", "experiments.infercept.conf"])
def test_a_router_from_a_folder_appears_in_every_app(my_conf: Path, module: str) -> None:
    cfg = compose_config(module, ["router=short_queue", f"hydra.searchpath=[file://{my_conf}]"])
    router = instantiate(cfg.router)(num_engines=2, seed=0, cost=None)
    assert type(router).__name__ == "ShortQueueRouter" and router.tie_break == "lowest"


def test_without_the_search_path_the_option_is_unknown(my_conf: Path) -> None:
    with pytest.raises(Exception, match="short_queue"):
        compose_config("experiments.preble.conf", ["router=short_queue"])


def test_the_added_router_runs_on_the_simulator_and_in_the_proxy(my_conf: Path,
                                                                 tmp_path: Path) -> None:
    from toolkit.core.policy import load_spec
    from toolkit.http.proxy import build_router

    cfg = compose_config("experiments.preble.conf", [
        "router=short_queue", f"hydra.searchpath=[file://{my_conf}]", "workload.num_requests=40",
        "workload.num_prefixes=4", "cluster.num_gpus=2"])
    df, _ = run_config(cfg, tmp_path / "run")
    assert len(df) == 40 and not df["failed"].any() and set(df["engine_id"]) == {0, 1}
    proxied = build_router(load_spec(str(my_conf / "router" / "short_queue.yaml")), 2)
    assert type(proxied).__name__ == "ShortQueueRouter"
