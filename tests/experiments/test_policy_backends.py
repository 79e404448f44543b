"""One configured local scheduler on every backend: the engine server and the in-process
engine hold an object with the simulator's settings, for every option of the group."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("torch")

from hydra.utils import instantiate  # noqa: E402

from experiments.common.backends import engine_command, model_dir  # noqa: E402
from experiments.common.sweep import compose_config  # noqa: E402
from toolkit.core.policy import build_policy  # noqa: E402

OPTIONS = sorted(p.stem for p in (Path(__file__).parents[2] / "toolkit/conf/local_sched")
                 .glob("*.yaml"))
INFERCEPT_POLICIES = sorted(p.stem for p in (Path(__file__).parents[2] /
                                             "experiments/infercept/conf/policy").glob("*.yaml"))


def _server_scheduler(cfg) -> object:
    """The scheduler `python -m toolkit.serve.server` builds from the command line."""
    from toolkit.engine.components import make_policy
    from toolkit.serve.server import engine_config_from_args, parse_args

    cmd = engine_command(cfg, 0, 8000)
    assert cmd[1:3] == ["-m", "toolkit.serve.server"]
    return make_policy(engine_config_from_args(parse_args(cmd[3:])))


def _inprocess_scheduler(cfg) -> object:
    from toolkit.engine.components import make_policy
    from toolkit.engine.config import EngineConfig

    return make_policy(EngineConfig(model=str(model_dir(cfg)),
                                    scheduler=build_policy(cfg.local_sched)))


def _same(a: object, b: object) -> None:
    assert type(a) is type(b)
    assert vars(a) == vars(b)


@pytest.mark.parametrize("option", OPTIONS)
def test_every_preble_scheduler_option_crosses_to_the_engine_whole(option: str) -> None:
    cfg = compose_config("experiments.preble.conf", [f"local_sched={option}", "backend=engine",
                                                     "local_sched.chunk_size=96"])
    sim = instantiate(cfg.local_sched)()
    assert sim.chunk_size == 96
    _same(_server_scheduler(cfg), sim)
    _same(_inprocess_scheduler(cfg), sim)


@pytest.mark.parametrize("policy", INFERCEPT_POLICIES)
def test_infercept_scheduler_overlays_reach_the_engine(policy: str) -> None:
    from experiments.infercept.engine_backend import engine_config
    from toolkit.engine.components import make_policy

    cfg = compose_config("experiments.infercept.conf", [f"policy={policy}",
                                                        "backend=engine_inprocess"])
    sim = instantiate(cfg.local_sched)()
    _same(make_policy(engine_config(cfg)), sim)


def test_lpm_runs_without_chunked_prefill_on_the_engine_server() -> None:
    """The SGLang baseline (`local_sched=lpm`) prefills a 40-token prompt in one step on the
    server's engine; the chunked FCFS default of the same budget needs five."""
    from toolkit.engine.engine import LLMEngine
    from toolkit.engine.sampling import SamplingParams
    from toolkit.serve.server import engine_config_from_args, parse_args

    def steps_to_first_token(option: str) -> int:
        cfg = compose_config("experiments.preble.conf", [f"local_sched={option}",
                                                         "backend=engine",
                                                         "local_sched.chunk_size=8"])
        engine = LLMEngine(engine_config_from_args(parse_args(engine_command(cfg, 0, 8000)[3:])))
        engine.add_request(list(range(3, 43)), SamplingParams(max_tokens=2, ignore_eos=True))
        for step in range(1, 10):
            if any(c.token_ids for out in engine.step() for c in out.outputs):
                return step
        raise AssertionError("no token in 9 steps")

    assert steps_to_first_token("lpm") == 1
    assert steps_to_first_token("fcfs") == 5


def _settings(obj: object) -> dict:
    """An object's plain settings (numbers, strings, flags, tuples), by attribute."""
    plain = (int, float, str, bool, type(None), tuple)
    return {k: v for k, v in vars(obj).items() if isinstance(v, plain)}


ROUTER_OPTIONS = sorted(p.stem for p in (Path(__file__).parents[2] /
                                         "toolkit/conf/router").glob("*.yaml"))


@pytest.mark.parametrize("option", ROUTER_OPTIONS)
def test_every_router_option_builds_the_same_router_in_the_proxy(option: str) -> None:
    from toolkit.core.policy import policy_spec
    from toolkit.http.proxy import build_router
    from toolkit.route.testing import LinearCostModel

    cfg = compose_config("experiments.preble.conf", [f"router={option}"])
    cost = LinearCostModel()
    sim = instantiate(cfg.router)(num_engines=3, seed=7, cost=cost)
    proxy = build_router(policy_spec(cfg.router), 3, seed=7, cost=cost)
    assert type(proxy) is type(sim) and _settings(proxy) == _settings(sim)
    assert len(_settings(sim)) >= 1


@pytest.mark.parametrize("policy", INFERCEPT_POLICIES)
def test_every_pause_policy_crosses_to_the_engine_server_whole(policy: str) -> None:
    import json

    from toolkit.core.policy import policy_spec
    from toolkit.engine.pause import make_pause_policy
    from toolkit.serve.server import engine_config_from_args, parse_args

    cfg = compose_config("experiments.infercept.conf", [f"policy={policy}"])
    sim = instantiate(cfg.policy)
    args = parse_args(["--model", "m", "--pause-policy-config",
                       json.dumps(policy_spec(cfg.policy))])
    server = make_pause_policy(engine_config_from_args(args).pause_policy)
    assert type(server) is type(sim) and _settings(server) == _settings(sim)


def test_unknown_settings_are_rejected_by_name() -> None:
    from toolkit.engine.components import make_policy
    from toolkit.engine.config import EngineConfig

    spec = {"_target_": "toolkit.sched.fcfs.FCFSScheduler", "bogus_knob": 1}
    with pytest.raises(Exception, match="bogus_knob"):
        make_policy(EngineConfig(model="m", scheduler=spec))
    with pytest.raises(SystemExit, match="--scheduler-config"):
        from toolkit.serve.server import engine_config_from_args, parse_args

        engine_config_from_args(parse_args(["--model", "m", "--scheduler-config", "{oops"]))


@pytest.mark.parametrize("option", ["ngram", "suffix", "das", "static"])
def test_every_drafter_option_crosses_to_the_engine_server_whole(option: str) -> None:
    """The DAS app's drafter node, through the engine server's --drafter-config, builds
    the object the app builds (same settings, one object per backend)."""
    import json

    from omegaconf import OmegaConf

    from experiments.das.runner import build_spec
    from toolkit.core.policy import resolve_policy
    from toolkit.serve.server import engine_config_from_args, parse_args
    from toolkit.spec.base import Drafter

    cfg = compose_config("experiments.das.conf", [f"drafter={option}", "das.window=4"])
    app_drafter, _ = build_spec(cfg)
    node = OmegaConf.to_container(cfg.drafter, resolve=True)
    args = parse_args(["--model", "m", "--drafter-config", json.dumps(node),
                       "--num-speculative-tokens", "6"])
    config = engine_config_from_args(args)
    served = resolve_policy(config.drafter, Drafter, "drafter")
    assert type(served) is type(app_drafter)
    def settings(d):
        return {k: v for k, v in vars(d).items()
                if isinstance(v, (int, float, str, bool, type(None)))}

    assert settings(served) == settings(app_drafter) and len(settings(served)) >= 2
    assert config.num_speculative_tokens == 6


def test_problem_extension_keys_the_samples_of_a_prompt() -> None:
    from toolkit.serve.request import prepare_jobs

    _, jobs = prepare_jobs({"model": "m", "prompt": [[5, 6], [7]], "n": 2, "problem": "q1",
                            "max_tokens": 4}, None, 64, 100)
    assert [j.problem for j in jobs] == [("q1", 0), ("q1", 0), ("q1", 1), ("q1", 1)]
    _, jobs = prepare_jobs({"model": "m", "prompt": [5, 6], "max_tokens": 4}, None, 64, 100)
    assert jobs[0].problem == (5, 6)
    with pytest.raises(ValueError, match="problem"):
        prepare_jobs({"model": "m", "prompt": [5], "problem": [1], "max_tokens": 4}, None, 64, 100)
