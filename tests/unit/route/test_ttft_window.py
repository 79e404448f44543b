"""TtftWindow range means against a brute-force list."""

from __future__ import annotations

import random

import pytest

from toolkit.route.ttft_window import TtftWindow


@pytest.mark.parametrize("seed", range(5))
def test_range_means_match_brute_force(seed: int) -> None:
    rng = random.Random(seed)
    win, samples, t, horizon = TtftWindow(), [], 0.0, -1.0
    for _ in range(400):
        t += rng.choice([0.0, 0.1, 0.5])
        x = rng.random()
        win.append(t, x)
        samples.append((t, x))
        if rng.random() < 0.2:
            horizon = max(horizon, t - rng.uniform(0, 5))
            win.trim(horizon)
        a, b = sorted(rng.uniform(t - 10, t + 1) for _ in range(2))
        want = [v for s, v in samples if s > max(a, horizon) and s <= b]
        got = win.mean(a, b)
        assert (got is None) == (not want)
        if want:
            assert got == pytest.approx(sum(want) / len(want))
    live = [v for s, v in samples if s > horizon]
    assert len(win) == len(live) and len(win.copy()) == len(live)
