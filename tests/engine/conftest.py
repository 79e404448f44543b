"""Fixtures for the engine tests: the tiny model and Hugging Face reference generations."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("torch")


@pytest.fixture(scope="session")
def tiny_model_dir() -> Path:
    """The tiny model folder, built once (into `.cache/tiny-llama`, reused across runs);
    building it needs transformers and tokenizers (the tests skip without them)."""
    pytest.importorskip("transformers")
    pytest.importorskip("tokenizers")
    from toolkit.engine.tiny import build_tiny_model

    return build_tiny_model()


@pytest.fixture(scope="session")
def hf_model(tiny_model_dir: Path):
    """The tiny model in `transformers` (tests that compare with it skip without it)."""
    pytest.importorskip("transformers")
    import torch
    from transformers import AutoModelForCausalLM

    return AutoModelForCausalLM.from_pretrained(str(tiny_model_dir), dtype=torch.float32).eval()


@pytest.fixture(scope="session")
def hf_greedy(hf_model):
    """`hf_greedy(prompt_ids, n)`: up to `n` greedy tokens of `transformers.generate`
    (stopping after the model's EOS token), memoized."""
    import torch
    from transformers import GenerationConfig

    memo: dict[tuple, list[int]] = {}

    def run(prompt: list[int], n: int) -> list[int]:
        key = (tuple(prompt), n)
        if key not in memo:
            cfg = GenerationConfig(do_sample=False, max_new_tokens=n,
                                   eos_token_id=hf_model.config.eos_token_id, pad_token_id=0)
            with torch.no_grad():
                out = hf_model.generate(torch.tensor([prompt]), generation_config=cfg,
                                        attention_mask=torch.ones(1, len(prompt), dtype=torch.long))
            memo[key] = out[0, len(prompt):].tolist()
        return memo[key]

    return run
