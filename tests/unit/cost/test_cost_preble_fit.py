"""Preble's published regressions, against values computed by hand from the formulas."""

from __future__ import annotations

import pytest

from toolkit.cost.base import BatchShape
from toolkit.cost.preble_fit import PrebleLlama70BCostModel, PrebleMistralA6000CostModel

MISTRAL = PrebleMistralA6000CostModel()


def test_mistral_long_prefill() -> None:
    # n = 2048, no cache: linear 0.10842571*2048 + 4.209777 = 226.2656; attention
    # 1.86e-4*2048 + 0.159 = 0.5399 (K/R = 2048 > 1024: not halved); extra since
    # 2048*2048 > 1024^2: 1.13e-3*2048 + 1.75e-3*2048 + 2.19e-6*2048^2 = 15.0838784.
    expected_ms = (226.2655641 + 0.539928 + 15.0838784) / 0.9
    assert MISTRAL.prefill_s(2048) == pytest.approx(expected_ms * 1e-3, rel=1e-6)


def test_mistral_short_prefill_and_cached_context() -> None:
    # n = 100 over 4000 cached: linear 22; K = 4100 -> 1.86e-4*4100 + 0.159 = 0.9216;
    # e*s = 100*4100 < 1024^2: no extra.
    assert MISTRAL.prefill_s(100, 4000) == pytest.approx((22 + 0.9216) / 0.9 * 1e-3, rel=1e-9)


def test_mistral_decode_batch_halves_attention() -> None:
    # 64 decodes at ctx 512: linear 22 (N < 192); K = 64*513 = 32832 -> 6.266 ms, halved
    # because K/R = 513 <= 1024 and R*K <= 32*256*2048.
    attention = (1.86e-4 * 32832 + 0.159) / 2
    assert MISTRAL.decode_s(64, 512) == pytest.approx((22 + attention) / 0.9 * 1e-3, rel=1e-9)


def test_mistral_mixed_batch_is_one_call() -> None:
    # 512-token chunk over 1000 cached + 12 decodes at ctx 7000 (chunked prefill budget).
    batch = BatchShape((512,), (1000,), 12, 12 * 7000)
    linear = 0.10842571 * 524 + 4.209777054806409
    k = 1512 + 12 * 7001
    attention = 1.86e-4 * k + 0.159  # K/R = 6578 > 1024: not halved
    # extra term: e*s = 512*1512 < 1024^2, so none
    assert MISTRAL.iteration_s(batch) == pytest.approx((linear + attention) / 0.9e3, rel=1e-9)
    longer = BatchShape((1024,), (1000,), 12, 12 * 7000)  # e*s = 1024*2024 > 1024^2
    extra = 1.13e-3 * 1024 + 1.75e-3 * 2024 + 2.19e-6 * 1024 * 2024
    linear = 0.10842571 * 1036 + 4.209777054806409
    attention = 1.86e-4 * (2024 + 12 * 7001) + 0.159
    assert MISTRAL.iteration_s(longer) == pytest.approx(
        (linear + attention + extra) / 0.9e3, rel=1e-9
    )


def test_mistral_quadratic_band_clamped_or_verbatim() -> None:
    verbatim = PrebleMistralA6000CostModel(clamp_band=False)
    assert verbatim.prefill_s(383) < 0  # the published fit dips below zero
    assert MISTRAL.prefill_s(383) == pytest.approx((22 + 0.32) / 0.9e3)
    band = -118 + 1.25 * 250 - 2.56e-3 * 250**2
    assert MISTRAL.prefill_s(250) == pytest.approx((band + 0.32) / 0.9e3)


def test_llama70b_prefill_and_decode() -> None:
    m = PrebleLlama70BCostModel()
    # one chunk of 1000 over 3000 cached: s = 4000
    chunk = 28.931389307785594 + 0.182233431 * 1000 + 4.00365142e-3 * 4000 + 2.55050069e-6 * 4e6
    assert m.prefill_s(1000, 3000) == pytest.approx(chunk * 1e-3, rel=1e-12)
    decode = 28.931389307785594 + 0.182233431 * 8 + (4.00365142e-3 + 2.55050069e-6) * (8 * 1025)
    assert m.decode_s(8, 1024) == pytest.approx(decode * 1e-3, rel=1e-12)
    mixed = m.iteration_s(BatchShape((1000,), (3000,), 8, 8 * 1024))
    assert mixed == pytest.approx((chunk + decode - 28.931389307785594) * 1e-3, rel=1e-12)
    assert m.iteration_s(BatchShape()) == 0.0
