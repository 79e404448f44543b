"""Output lengths at the paper's scale: each problem's mean from ServeGen's DeepSeek-R1
reasoning workload (`../shared/data/servegen_deepseek-r1.tar.gz`: per-client output-length
distributions), its G samples spread around it, capped at the step's length limit."""

from __future__ import annotations

import ast
import json
import tarfile
from functools import lru_cache
from pathlib import Path

import numpy as np


@lru_cache(maxsize=4)
def servegen_output_lengths(path: str) -> tuple[np.ndarray, np.ndarray]:
    """(lengths, probabilities): the output-length distributions of every client and time
    window in the archive, pooled with equal weight per window."""
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"backend.servegen: no such file {p}")
    mass: dict[int, float] = {}
    with tarfile.open(p) as tar:
        for member in tar.getmembers():
            if not member.name.endswith("-dataset.json"):
                continue
            windows = json.load(tar.extractfile(member))
            for w in windows.values():
                dist = ast.literal_eval(w["output_tokens"])
                for length, prob in dist.items():
                    mass[int(length)] = mass.get(int(length), 0.0) + float(prob)
    if not mass:
        raise ValueError(f"{p}: no '*-dataset.json' with output_tokens")
    lengths = np.array(sorted(mass), dtype=np.int64)
    probs = np.array([mass[n] for n in lengths])
    return lengths, probs / probs.sum()


def problem_means(rng: np.random.Generator, num_problems: int, pool: tuple[np.ndarray, np.ndarray],
                  max_len: int) -> np.ndarray:
    """One mean length per problem, drawn from the pooled distribution (at most max_len)."""
    lengths, probs = pool
    return np.minimum(rng.choice(lengths, size=num_problems, p=probs), max_len).astype(float)


def sample_lengths(rng: np.random.Generator, means: np.ndarray, group_size: int, sigma: float,
                   max_len: int) -> np.ndarray:
    """[problems, group_size] lengths: mean x lognormal(-sigma^2/2, sigma), in [16, max_len]."""
    noise = rng.lognormal(-sigma ** 2 / 2, sigma, size=(len(means), group_size))
    return np.clip(np.rint(means[:, None] * noise), 16, max_len).astype(np.int64)
