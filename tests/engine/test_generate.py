"""Greedy output of the engine is token-identical to `transformers` for the tiny model."""

from __future__ import annotations

import random

import pytest

from toolkit.engine import LLM, SamplingParams

NUM_NEW = 24
GREEDY = SamplingParams(temperature=0.0, max_tokens=NUM_NEW)
EOS = 2  # the tiny tokenizer's </s>


def random_prompts(num: int, seed: int, lo: int = 3, hi: int = 90, vocab: int = 768) -> list[list[int]]:
    rng = random.Random(seed)
    return [[rng.randrange(3, vocab) for _ in range(rng.randint(lo, hi))] for _ in range(num)]


def shared_prefix_prompts(num: int, prefix_len: int, seed: int) -> list[list[int]]:
    rng = random.Random(seed)
    prefix = [rng.randrange(3, 768) for _ in range(prefix_len)]
    return [prefix + [rng.randrange(3, 768) for _ in range(rng.randint(1, 20))] for _ in range(num)]


def assert_matches_hf(outputs, prompts, hf_greedy) -> None:
    for out, prompt in zip(outputs, prompts):
        assert out.prompt_token_ids == prompt
        ref = hf_greedy(prompt, NUM_NEW)
        assert out.outputs[0].token_ids == ref, f"prompt {prompt[:8]}..."
        assert out.outputs[0].finish_reason == ("stop" if ref[-1] == EOS else "length")


def test_plain(tiny_model_dir, hf_greedy):
    prompts = random_prompts(6, seed=1)
    llm = LLM(str(tiny_model_dir), num_kv_blocks=256, enable_prefix_caching=False)
    assert_matches_hf(llm.generate(prompts, GREEDY), prompts, hf_greedy)


def test_prefix_cache_hits(tiny_model_dir, hf_greedy):
    prompts = shared_prefix_prompts(4, prefix_len=70, seed=2)
    llm = LLM(str(tiny_model_dir), num_kv_blocks=256, block_size=16)
    first = llm.generate(prompts[:1], GREEDY)
    rest = llm.generate(prompts[1:], GREEDY)
    assert first[0].num_cached_tokens == 0
    assert all(o.num_cached_tokens >= 64 for o in rest)  # four full 16-token blocks
    assert_matches_hf(first + rest, prompts, hf_greedy)
    again = llm.generate(prompts[:1], GREEDY)  # the whole prompt cached but its last block
    assert again[0].num_cached_tokens == (len(prompts[0]) - 1) // 16 * 16
    assert_matches_hf(again, prompts[:1], hf_greedy)


@pytest.mark.parametrize("target", ["fcfs.FCFSScheduler", "lpm.LPMScheduler",
                                    "preble.PreblePriorityScheduler"])
def test_chunked_prefill(tiny_model_dir, hf_greedy, target):
    prompts = random_prompts(5, seed=3, lo=10, hi=60) + shared_prefix_prompts(3, 30, seed=4)
    llm = LLM(str(tiny_model_dir), num_kv_blocks=256, block_size=4,
              scheduler={"_target_": f"toolkit.sched.{target}", "chunk_size": 7})
    assert_matches_hf(llm.generate(prompts, GREEDY), prompts, hf_greedy)


def test_prefill_first_batches(tiny_model_dir, hf_greedy):
    prompts = random_prompts(5, seed=5)
    llm = LLM(str(tiny_model_dir), num_kv_blocks=256, block_size=8, chunked_prefill=False)
    assert_matches_hf(llm.generate(prompts, GREEDY), prompts, hf_greedy)


@pytest.mark.parametrize("chunked", [True, False])
def test_preemption(tiny_model_dir, hf_greedy, chunked):
    prompts = random_prompts(6, seed=6, lo=20, hi=40) + shared_prefix_prompts(2, 24, seed=7)
    llm = LLM(str(tiny_model_dir), num_kv_blocks=40, block_size=4, chunk_size=16,
              chunked_prefill=chunked)
    outputs = llm.generate(prompts, GREEDY)
    assert sum(o.num_preemptions for o in outputs) > 0
    assert_matches_hf(outputs, prompts, hf_greedy)


def test_text_prompts(tiny_model_dir):
    llm = LLM(str(tiny_model_dir), num_kv_blocks=64)
    tok = llm.get_tokenizer()
    text = "Hello world, the cache prefix request batch"
    by_text = llm.generate(text, GREEDY)[0]
    by_ids = llm.generate({"prompt_token_ids": tok.encode(text)}, GREEDY)[0]
    assert by_text.prompt == text and by_text.prompt_token_ids == tok.encode(text)
    assert by_text.outputs[0].token_ids == by_ids.outputs[0].token_ids
    assert by_text.outputs[0].text == tok.decode(by_ids.outputs[0].token_ids)


def test_seeded_sampling_is_reproducible(tiny_model_dir):
    prompts = random_prompts(4, seed=8)
    params = [SamplingParams(temperature=0.9, top_p=0.9, max_tokens=16, seed=100 + i)
              for i in range(4)]
    llm = LLM(str(tiny_model_dir), num_kv_blocks=128)
    together = llm.generate(prompts, params)
    alone = [llm.generate(p, sp)[0] for p, sp in zip(prompts, params)]  # other batches
    assert [o.outputs[0].token_ids for o in together] == [o.outputs[0].token_ids for o in alone]
    other = llm.generate(prompts[0], SamplingParams(temperature=0.9, max_tokens=16, seed=7))[0]
    assert other.outputs[0].token_ids != together[0].outputs[0].token_ids
    unseeded = LLM(str(tiny_model_dir), num_kv_blocks=128, seed=3)
    a = unseeded.generate(prompts, SamplingParams(temperature=1.0, max_tokens=8))
    b = LLM(str(tiny_model_dir), num_kv_blocks=128, seed=3).generate(
        prompts, SamplingParams(temperature=1.0, max_tokens=8))
    assert [o.outputs[0].token_ids for o in a] == [o.outputs[0].token_ids for o in b]


def test_stop_conditions(tiny_model_dir, hf_greedy):
    prompt = random_prompts(1, seed=9)[0]
    ref = hf_greedy(prompt, NUM_NEW)
    llm = LLM(str(tiny_model_dir), num_kv_blocks=64)
    out = llm.generate(prompt, SamplingParams(temperature=0, max_tokens=NUM_NEW,
                                              stop_token_ids=[ref[5]]))[0].outputs[0]
    assert out.token_ids == ref[:ref.index(ref[5]) + 1] and out.finish_reason == "stop"
    one = llm.generate(prompt, SamplingParams(temperature=0, max_tokens=1))[0].outputs[0]
    assert one.token_ids == ref[:1] and one.finish_reason == "length"
