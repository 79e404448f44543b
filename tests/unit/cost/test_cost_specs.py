"""Model and GPU presets: parameter counts, KV bytes, lookup errors."""

from __future__ import annotations

import pytest

from toolkit.core import ConfigError
from toolkit.cost.specs import GPUS, MODELS, get_gpu_spec, get_model_spec

# Published parameter counts (model cards), billions.
PUBLISHED_PARAMS_B = {
    "llama3-8b": 8.03,
    "llama3-70b": 70.55,
    "mistral-7b": 7.24,
    "gpt-j-6b": 6.05,
    "vicuna-13b": 13.0,
    "llama2-70b": 68.98,
}


@pytest.mark.parametrize("name", sorted(PUBLISHED_PARAMS_B))
def test_param_counts_match_model_cards(name: str) -> None:
    assert get_model_spec(name).num_params / 1e9 == pytest.approx(
        PUBLISHED_PARAMS_B[name], rel=0.01
    )


def test_kv_bytes_per_token() -> None:
    # 2 * 32 layers * 8 KV heads * 128 * 2 bytes = 128 KiB (nitsum.md section 4).
    assert get_model_spec("llama3-8b").kv_bytes_per_token == 128 * 1024
    assert get_model_spec("mistral-7b").kv_bytes_per_token == 131072  # Preble: 131072
    assert get_model_spec("llama3-70b").kv_bytes_per_token == 320 * 1024
    assert get_model_spec("llama3-8b").weight_bytes == 2 * get_model_spec("llama3-8b").num_params


def test_lookup_is_case_insensitive_and_accepts_aliases() -> None:
    assert get_model_spec("Llama3-8B") is MODELS["llama3-8b"]
    assert get_gpu_spec("A100-80GB") is GPUS["a100"]
    assert get_gpu_spec("h100-sxm") is GPUS["h100"]
    assert get_gpu_spec(GPUS["l4"]) is GPUS["l4"]


def test_unknown_names_raise_config_error_naming_option_and_known() -> None:
    with pytest.raises(ConfigError) as err:
        get_model_spec("llama9")
    assert err.value.option == "model" and "llama3-8b" in str(err.value)
    with pytest.raises(ConfigError) as err:
        get_gpu_spec("tpu")
    assert err.value.option == "gpu" and "h200" in str(err.value)


def test_interconnect_falls_back_to_pcie() -> None:
    assert GPUS["l4"].interconnect_bytes_per_s == GPUS["l4"].pcie_bytes_per_s
    assert GPUS["h100"].interconnect_bytes_per_s == 450e9
