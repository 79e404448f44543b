"""make_cost_model, kv_capacity_tokens and the Hydra YAML options."""

from __future__ import annotations

from pathlib import Path

import pytest
from hydra.utils import instantiate
from omegaconf import OmegaConf

from toolkit.core import ConfigError
from toolkit.cost import (
    PrebleLlama70BCostModel,
    PrebleMistralA6000CostModel,
    ProfiledCostModel,
    RooflineCostModel,
)
from toolkit.cost.factory import kv_capacity_tokens, make_cost_model

CONF = Path(__file__).resolve().parents[3] / "toolkit" / "conf"


def test_kinds() -> None:
    assert isinstance(make_cost_model("profiled", "llama3-8b", "h200"), ProfiledCostModel)
    assert isinstance(make_cost_model("roofline", "mistral-7b", "l4"), RooflineCostModel)
    assert isinstance(
        make_cost_model("preble_fit", "mistral-7b", "a6000"), PrebleMistralA6000CostModel
    )
    assert isinstance(
        make_cost_model("preble_fit", "llama3-70b", "h100", 4), PrebleLlama70BCostModel
    )
    assert (
        make_cost_model("roofline", "llama3-8b", "h100", 2, overhead_per_layer_s=0.0).overhead_s
        == 0.0
    )


@pytest.mark.parametrize(
    ("args", "option"),
    [
        (("fancy", "llama3-8b", "h200"), "kind"),
        (("roofline", "gpt5", "h200"), "model"),
        (("roofline", "llama3-8b", "v100"), "gpu"),
        (("roofline", "llama3-8b", "h200", 0), "tp"),
        (("profiled", "mistral-7b", "h200"), "tp"),
        (("preble_fit", "llama3-8b", "a6000"), "model"),
        (("preble_fit", "mistral-7b", "h100"), "gpu"),
        (("preble_fit", "mistral-7b", "a6000", 2), "tp"),
    ],
)
def test_errors_name_the_option(args: tuple, option: str) -> None:
    with pytest.raises(ConfigError) as err:
        make_cost_model(*args)
    assert err.value.option == option


def test_kv_capacity_wrapper() -> None:
    assert kv_capacity_tokens("llama3-70b", "h100", 4) > 0
    with pytest.raises(ConfigError):
        kv_capacity_tokens("llama3-70b", "l4", 1)


@pytest.mark.parametrize(
    ("cost", "model", "gpu", "tp"),
    [
        ("profiled", "llama3-70b", "h200", 4),
        ("roofline", "llama3-8b", "a100", 1),
        ("preble_fit", "mistral-7b", "a6000", 1),
    ],
)
def test_yaml_options_instantiate(cost: str, model: str, gpu: str, tp: int) -> None:
    cfg = OmegaConf.create(
        {
            "model": OmegaConf.load(CONF / "model" / f"{model}.yaml"),
            "gpu": OmegaConf.load(CONF / "gpu" / f"{gpu}.yaml"),
            "cluster": {"tp": tp, "num_gpus": 8},
            "cost": OmegaConf.load(CONF / "cost" / f"{cost}.yaml"),
        }
    )
    assert instantiate(cfg.cost).decode_s(8, 1024) > 0


def test_every_model_and_gpu_yaml_names_a_preset() -> None:
    from toolkit.cost.specs import get_gpu_spec, get_model_spec

    for f in (CONF / "model").glob("*.yaml"):
        assert get_model_spec(OmegaConf.load(f).name).name == f.stem
    for f in (CONF / "gpu").glob("*.yaml"):
        assert get_gpu_spec(OmegaConf.load(f).name).name == f.stem
