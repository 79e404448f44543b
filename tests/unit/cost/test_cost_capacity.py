"""KV capacity in tokens and the errors of models that do not fit."""

from __future__ import annotations

import pytest

from toolkit.core import ConfigError
from toolkit.cost.capacity import kv_capacity_tokens
from toolkit.cost.specs import GiB


def test_preble_mistral_a6000_capacity_close_to_preble_simulator() -> None:
    # Preble's simulator holds 198,516 tokens (preble.md section 5); SGLang's default
    # mem_fraction_static for that setup is ~0.8.
    tokens = kv_capacity_tokens("mistral-7b", "a6000", 1, mem_fraction=0.8)
    assert tokens == pytest.approx(198_516, rel=0.05)


def test_formula() -> None:
    tokens = kv_capacity_tokens("llama3-8b", "h200", 1, 0.9, activation_reserve_bytes=GiB)
    from toolkit.cost.specs import GPUS, MODELS

    m, g = MODELS["llama3-8b"], GPUS["h200"]
    assert tokens == int((g.memory_bytes * 0.9 - m.weight_bytes - GiB) // m.kv_bytes_per_token)


def test_tp_raises_capacity_and_replicates_kv_beyond_kv_heads() -> None:
    one = kv_capacity_tokens("llama3-8b", "h100", 1)
    two = kv_capacity_tokens("llama3-8b", "h100", 2)
    assert two > 2 * one  # weights are split too
    # 8 KV heads: at tp 16 each GPU keeps one head, as at tp 8.
    assert kv_capacity_tokens("llama3-70b", "h100", 16) > kv_capacity_tokens(
        "llama3-70b", "h100", 8
    )


def test_model_that_cannot_fit_names_model_gpu_tp_and_numbers() -> None:
    with pytest.raises(ConfigError) as err:
        kv_capacity_tokens("llama3-70b", "a6000", 1)
    msg = str(err.value)
    assert err.value.option == "model"
    for part in ("llama3-70b", "a6000", "tp=1", "GiB", "weights/tp"):
        assert part in msg


@pytest.mark.parametrize(
    ("kw", "option"), [({"tp": 0}, "tp"), ({"mem_fraction": 1.5}, "mem_fraction")]
)
def test_bad_options(kw: dict, option: str) -> None:
    with pytest.raises(ConfigError) as err:
        kv_capacity_tokens("llama3-8b", "h200", **kw)
    assert err.value.option == option
