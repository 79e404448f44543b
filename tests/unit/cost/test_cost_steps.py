"""Runs of one-chunk prefill iterations give exactly the floats of `iteration_s`."""

from __future__ import annotations

import pytest

from toolkit.cost.base import BatchShape
from toolkit.cost.preble_fit import PrebleLlama70BCostModel, PrebleMistralA6000CostModel
from toolkit.cost.profiled import ProfiledCostModel
from toolkit.cost.steps import iteration_steps_s, prefill_chunk_steps_s

CASES = [  # chunk, num_prefilled, num_decode, decode_ctx_sum, num_steps
    (512, 0, 0, 0, 40),
    (2048, 0, 7, 7 * 900, 60),
    (8192, 4096, 64, 64 * 3000, 30),
    (97, 13, 1, 5, 200),
    (3000, 100_000, 250, 250 * 9000, 20),
    (1, 0, 3, 3, 5),
    (512, 0, 3, 30, 0),
]


def one_by_one(cost, chunk, num_prefilled, num_decode, decode_ctx_sum, num_steps):
    return [cost.iteration_s(BatchShape((chunk,), (num_prefilled + j * chunk,), num_decode,
                                        decode_ctx_sum + j * num_decode))
            for j in range(num_steps)]


MODELS = {
    "profiled": lambda: ProfiledCostModel(),
    "profiled_tp2": lambda: ProfiledCostModel(tp=2),
    "mistral": lambda: PrebleMistralA6000CostModel(),
    "mistral_raw": lambda: PrebleMistralA6000CostModel(clamp_band=False, iteration_overhead_s=3e-3),
    "llama70b": lambda: PrebleLlama70BCostModel(),  # no method of its own: the generic loop
}


@pytest.mark.parametrize("name", sorted(MODELS))
@pytest.mark.parametrize("case", CASES)
def test_steps_equal_iteration_s_exactly(name: str, case: tuple[int, ...]) -> None:
    cost = MODELS[name]()
    assert prefill_chunk_steps_s(cost, *case) == one_by_one(cost, *case)
    assert iteration_steps_s(cost, *case) == one_by_one(cost, *case)


def test_mistral_band_chunks_equal_exactly() -> None:
    cost = PrebleMistralA6000CostModel()
    for chunk in range(150, 420, 7):
        case = (chunk, 900, 5, 5 * 700, 12)
        assert prefill_chunk_steps_s(cost, *case) == one_by_one(cost, *case)


def test_a_subclass_overriding_iteration_s_is_looped() -> None:
    class Doubled(ProfiledCostModel):
        def iteration_s(self, batch: BatchShape) -> float:
            return 2 * super().iteration_s(batch)

    cost = Doubled()
    case = (1024, 0, 4, 4000, 10)
    assert cost.prefill_chunk_steps_s(*case) == one_by_one(cost, *case)
