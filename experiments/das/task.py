"""A synthetic reasoning task with a checkable answer and long-tailed solution lengths.

Running sum modulo 10 over an indexed list of digits. The prompt lists n (index, digit)
pairs; the solution walks them in order, one step per pair — the index, the digit and the
running sum so far — then gives the final sum:

    prompt:   <bos> Q  I1 d1  I2 d2 ... In dn  =
    solution: I1 d1 s1 ;  I2 d2 s2 ;  ...  In dn sn ;  > sn <eos>

with s_i = (s_{i-1} + d_i) mod 10 (s_0 = 0): 4n + 3 tokens. Each step is learnable by a
small transformer (the next index is a successor, the digit is found by induction on the
index, the sum is a 10x10 table), and the length grows with n, which is drawn long-tailed.
The reward is 1 when the token after `>` is the true sum and the output ends there.
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from dataclasses import dataclass

PAD, BOS, EOS, Q, EQ, SEP, ANS = 0, 1, 2, 3, 4, 5, 6
DIGIT0 = 7  # tokens 7..16 are the digits 0..9
INDEX0 = 17  # tokens 17.. are the indices I1, I2, ...


@dataclass(frozen=True)
class Problem:
    """One problem: its id and digits."""

    problem_id: int
    digits: tuple[int, ...]

    @property
    def answer(self) -> int:
        return sum(self.digits) % 10

    def prompt(self) -> list[int]:
        out = [BOS, Q]
        for i, d in enumerate(self.digits):
            out += [INDEX0 + i, DIGIT0 + d]
        return out + [EQ]

    def solution(self) -> list[int]:
        out, s = [], 0
        for i, d in enumerate(self.digits):
            s = (s + d) % 10
            out += [INDEX0 + i, DIGIT0 + d, DIGIT0 + s, SEP]
        return out + [ANS, DIGIT0 + s, EOS]


@dataclass(frozen=True)
class TaskConfig:
    """The problem set: `num_problems` fixed problems (they recur every epoch), sizes n
    drawn as `min_n + floor(lognormal(mu, sigma))`, at most `max_n`."""

    num_problems: int = 32
    min_n: int = 2
    max_n: int = 64
    mu: float = 1.8
    sigma: float = 0.9
    seed: int = 0

    def __post_init__(self) -> None:
        if not 1 <= self.min_n <= self.max_n:
            raise ValueError(f"task: need 1 <= min_n <= max_n, got {self.min_n}, {self.max_n}")
        if self.num_problems < 1:
            raise ValueError(f"task.num_problems must be >= 1, got {self.num_problems}")

    @property
    def vocab_size(self) -> int:
        """Tokens in use, rounded up to a multiple of 16."""
        return -(-(INDEX0 + self.max_n) // 16) * 16

    @property
    def max_solution_len(self) -> int:
        return 4 * self.max_n + 3


def draw_size(rng: random.Random, cfg: TaskConfig) -> int:
    """A long-tailed problem size."""
    return min(cfg.max_n, cfg.min_n + int(math.exp(rng.gauss(cfg.mu, cfg.sigma))))


def make_problems(cfg: TaskConfig) -> list[Problem]:
    """The fixed problem set (the same for the same config)."""
    rng = random.Random(cfg.seed)
    return [Problem(i, tuple(rng.randint(0, 9) for _ in range(draw_size(rng, cfg))))
            for i in range(cfg.num_problems)]


def random_problem(rng: random.Random, cfg: TaskConfig, n: int | None = None) -> Problem:
    """A fresh problem for supervised warm-up (size `n`, or drawn like the set's)."""
    n = draw_size(rng, cfg) if n is None else n
    return Problem(-1, tuple(rng.randint(0, 9) for _ in range(n)))


def reward(problem: Problem, output: Sequence[int]) -> float:
    """1.0 when the output ends with `> <true sum> <eos>` (or `> <true sum>` cut at the
    length limit is not enough: the answer must be closed), else 0.0."""
    out = list(output)
    if len(out) >= 3 and out[-3:] == [ANS, DIGIT0 + problem.answer, EOS]:
        return 1.0
    return 0.0


def render(tokens: Sequence[int]) -> str:
    """A readable form of tokens (for notebooks and errors)."""
    names = {PAD: "<pad>", BOS: "<s>", EOS: "</s>", Q: "Q", EQ: "=", SEP: ";", ANS: ">"}
    out = []
    for t in tokens:
        if t in names:
            out.append(names[t])
        elif DIGIT0 <= t < INDEX0:
            out.append(str(t - DIGIT0))
        else:
            out.append(f"I{t - INDEX0 + 1}")
    return " ".join(out)
