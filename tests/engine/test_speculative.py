"""Speculative decoding in the engine: greedy output token-identical to plain decoding (and
to transformers) for every drafter; blocks of rejected tokens freed; counters recorded."""

from __future__ import annotations

import pytest

from tests.engine.test_generate import EOS, random_prompts
from toolkit.engine import LLM, SamplingParams
from toolkit.spec.das import DASDrafter, StaticDrafter
from toolkit.spec.ngram import PromptLookup
from toolkit.spec.suffix import SuffixDecoding

NUM_NEW = 40
DRAFTERS = {
    "ngram": lambda: PromptLookup(1, 4),
    "suffix": lambda: SuffixDecoding(depth=16, min_prob=0.0),
    "das": lambda: DASDrafter(window=2, depth=16),
    "static": lambda: StaticDrafter(warmup_epochs=1, depth=16),
}


def generate(llm, prompts, params, rounds=2):
    """`rounds` generate calls (epochs) of the same prompts; the last call's outputs."""
    for _ in range(rounds):
        outs = llm.generate(prompts, params)
        llm.llm_engine.new_epoch()
    return outs


@pytest.mark.parametrize("name", sorted(DRAFTERS))
@pytest.mark.parametrize("k", [1, 5])
def test_greedy_is_token_identical(tiny_model_dir, hf_greedy, name, k):
    prompts = random_prompts(5, seed=11, lo=4, hi=40)
    params = SamplingParams(temperature=0.0, max_tokens=NUM_NEW, n=2)
    plain = LLM(str(tiny_model_dir), num_kv_blocks=128, block_size=4)
    spec = LLM(str(tiny_model_dir), num_kv_blocks=128, block_size=4,
               drafter=DRAFTERS[name](), num_speculative_tokens=k)
    want = generate(plain, prompts, params)
    got = generate(spec, prompts, params)
    accepted = 0
    for w, g, prompt in zip(want, got, prompts):
        assert [c.token_ids for c in g.outputs] == [c.token_ids for c in w.outputs]
        assert g.outputs[0].token_ids == hf_greedy(prompt, NUM_NEW)
        for c in g.outputs:
            assert 0 <= c.num_accepted_tokens <= c.num_draft_tokens
            assert c.num_draft_tokens <= k * c.num_verify_steps
            accepted += c.num_accepted_tokens
    if name != "ngram":  # the random tiny model seldom repeats itself within one output
        assert accepted > 0, "history drafters see the first round's outputs again"
    engine = spec.llm_engine
    engine.check_integrity()
    assert not engine.scheduler.has_unfinished()
    assert len(engine.kv.free_blocks) + len(engine.kv.block_of_hash) == engine.kv.num_blocks


def test_drafts_need_fewer_steps(tiny_model_dir):
    prompts = random_prompts(4, seed=12, lo=4, hi=30)
    params = SamplingParams(temperature=0.0, max_tokens=NUM_NEW, ignore_eos=True)
    plain = LLM(str(tiny_model_dir), num_kv_blocks=128, block_size=4)
    spec = LLM(str(tiny_model_dir), num_kv_blocks=128, block_size=4,
               drafter=SuffixDecoding(depth=16, min_prob=0.0), num_speculative_tokens=6)
    steps = {}
    for name, llm in (("plain", plain), ("spec", spec)):
        generate(llm, prompts, params, rounds=1)
        before = llm.llm_engine.num_steps
        generate(llm, prompts, params, rounds=1)  # the drafter has seen these outputs
        steps[name] = llm.llm_engine.num_steps - before
    assert steps["plain"] == NUM_NEW
    assert steps["spec"] <= NUM_NEW // 4


def test_records_carry_the_counters(tiny_model_dir):
    from toolkit.engine.config import EngineConfig
    from toolkit.engine.engine import LLMEngine

    engine = LLMEngine(EngineConfig(model=str(tiny_model_dir), num_kv_blocks=128, block_size=4,
                                    drafter={"_target_": "toolkit.spec.ngram.PromptLookup"},
                                    num_speculative_tokens=3))
    rid = engine.add_request([5, 6, 7, 5, 6, 7, 5, 6], SamplingParams(temperature=0.0,
                                                                      max_tokens=30))
    while engine.has_unfinished():
        engine.step()
    out = engine.output(rid).outputs[0]
    (rec,) = engine.take_records()
    assert (rec.num_draft_tokens, rec.num_accepted_tokens, rec.num_verify_steps) == (
        out.num_draft_tokens, out.num_accepted_tokens, out.num_verify_steps)
    assert rec.num_verify_steps > 0
    assert rec.num_output_tokens == len(out.token_ids)
    assert out.token_ids[-1] == EOS or len(out.token_ids) == 30


def test_unknown_drafter_setting_is_rejected(tiny_model_dir):
    with pytest.raises(Exception, match="bogus"):
        LLM(str(tiny_model_dir), num_kv_blocks=64,
            drafter={"_target_": "toolkit.spec.ngram.PromptLookup", "bogus": 1})
