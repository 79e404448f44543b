"""GRPO (Shao et al., 2024) for the tiny policy: group-normalised advantages, one on-policy
gradient step per RL step, token-level mean of advantage-weighted log-likelihood."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from pathlib import Path

import torch

from experiments.das.task import PAD


def group_advantages(groups: Sequence[Hashable], rewards: Sequence[float],
                     eps: float = 1e-6) -> list[float]:
    """(r - mean of its group) / (std of its group + eps); a group whose rewards are all
    equal gets zeros (it carries no signal)."""
    by: dict[Hashable, list[float]] = defaultdict(list)
    for g, r in zip(groups, rewards):
        by[g].append(r)
    stats = {}
    for g, rs in by.items():
        mean = sum(rs) / len(rs)
        std = (sum((r - mean) ** 2 for r in rs) / len(rs)) ** 0.5
        stats[g] = (mean, std)
    return [0.0 if stats[g][1] == 0 else (r - stats[g][0]) / (stats[g][1] + eps)
            for g, r in zip(groups, rewards)]


@dataclass(frozen=True)
class GRPOConfig:
    lr: float = 5e-4
    microbatch: int = 64
    max_grad_norm: float = 1.0


class GRPOTrainer:
    """The policy being trained (a `transformers` model, float32, CPU)."""

    def __init__(self, policy_dir: str | Path, cfg: GRPOConfig, seed: int = 0) -> None:
        from transformers import LlamaForCausalLM

        torch.manual_seed(seed)
        self.model = LlamaForCausalLM.from_pretrained(str(policy_dir), dtype=torch.float32)
        self.cfg = cfg
        self.opt = torch.optim.AdamW(self.model.parameters(), lr=cfg.lr, weight_decay=0.0)

    def state_dict(self) -> dict[str, torch.Tensor]:
        return self.model.state_dict()

    def step(self, prompts: Sequence[Sequence[int]], outputs: Sequence[Sequence[int]],
             advantages: Sequence[float]) -> float:
        """One gradient step on -sum_i A_i sum_t log p(o_it) / sum_i |o_i|; returns it."""
        items = [(list(p), list(o), a) for p, o, a in zip(prompts, outputs, advantages)
                 if a != 0.0 and o]
        if not items:
            return 0.0
        total_tokens = sum(len(o) for _, o, _ in items)
        self.model.train()
        self.opt.zero_grad()
        total = 0.0
        mb = self.cfg.microbatch
        for start in range(0, len(items), mb):
            loss = self._loss(items[start:start + mb]) / total_tokens
            loss.backward()
            total += loss.item()
        torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.cfg.max_grad_norm)
        self.opt.step()
        self.model.eval()
        return total

    def _loss(self, items: list[tuple[list[int], list[int], float]]) -> torch.Tensor:
        rows = [p + o for p, o, _ in items]
        width = max(map(len, rows))
        ids = torch.tensor([r + [PAD] * (width - len(r)) for r in rows])
        mask = torch.zeros(len(rows), width, dtype=torch.bool)
        for i, (p, o, _) in enumerate(items):
            mask[i, len(p):len(p) + len(o)] = True
        logits = self.model(input_ids=ids).logits[:, :-1].float()
        logp = torch.log_softmax(logits, -1).gather(-1, ids[:, 1:].unsqueeze(-1)).squeeze(-1)
        adv = torch.tensor([a for _, _, a in items]).unsqueeze(1)
        return -(logp * adv * mask[:, 1:]).sum()
