"""DAS's drafter (Shao et al., arXiv 2511.13841): suffix structures per problem over a
sliding window of recent RL epochs, with verified tokens inserted online."""

from __future__ import annotations

import random
from collections import defaultdict, deque
from collections.abc import Hashable, Sequence

from toolkit.spec.base import EMPTY, Draft, Drafter, SeqKey
from toolkit.spec.tree_draft import draft_from
from toolkit.spec.trie import trie_class

GLOBAL = "__all__"


class DASDrafter(Drafter):
    """A trie per problem (`scope="problem"`, the paper's) or one for all (`"global"`),
    over the rollouts of the current epoch (weight 1, inserted as they are verified) and
    of the last `window` finished epochs (the one before weighs `decay`, the one before
    that `decay**2`, ...). `window=None` keeps all history (the paper's "all").

    The paper rebuilds the window every iteration; so does `new_epoch` (unless nothing can
    leave or fade: `window=None, decay=1`). The paper down-weights older epochs "mildly"
    without giving the factor; `decay` defaults to 1 (no down-weighting).
    `min_prob` and `factor` bound the draft as in SuffixDecoding (defaults: none). `trie`
    picks the trie's implementation (`toolkit.spec.trie.trie_class`); both draft alike."""

    def __init__(self, window: int | None = 16, decay: float = 1.0, depth: int = 24,
                 scope: str = "problem", min_prob: float = 0.0, factor: float | None = None,
                 sample: bool = False, seed: int = 0, trie: str = "auto") -> None:
        if window is not None and window < 0:
            raise ValueError(f"DASDrafter: window must be >= 0 or None, got {window}")
        if not 0 < decay <= 1:
            raise ValueError(f"DASDrafter: decay must be in (0, 1], got {decay}")
        if scope not in ("problem", "global"):
            raise ValueError(f"DASDrafter: scope must be 'problem' or 'global', got {scope!r}")
        self.window, self.decay, self.depth, self.scope = window, decay, depth, scope
        self._trie_cls = trie_class(trie)
        self.min_prob, self.factor = min_prob, factor
        self.rng = random.Random(seed) if sample else None
        self.epoch = 0
        self._history: deque[dict[Hashable, list[list[int]]]] = deque()
        self._current: dict[Hashable, dict[Hashable, list[int]]] = defaultdict(dict)
        self._tries: dict[Hashable, object] = {}

    def _group(self, key: SeqKey) -> Hashable:
        return key.problem if self.scope == "problem" else GLOBAL

    def propose(self, key: SeqKey, context: Sequence[int], max_tokens: int) -> Draft:
        trie = self._tries.get(self._group(key))
        if trie is None:
            return EMPTY
        return draft_from(trie, context, max_tokens, min_prob=self.min_prob,
                          factor=self.factor, rng=self.rng)

    def observe(self, key: SeqKey, tokens: Sequence[int]) -> None:
        group = self._group(key)
        self._current[group].setdefault(key.seq, []).extend(tokens)
        trie = self._tries.get(group)
        if trie is None:
            trie = self._tries[group] = self._trie_cls(self.depth)
        trie.append(key.seq, tokens)

    def finish(self, key: SeqKey) -> None:
        trie = self._tries.get(self._group(key))
        if trie is not None:
            trie.close(key.seq)

    def new_epoch(self) -> None:
        finished = {g: list(seqs.values()) for g, seqs in self._current.items()}
        self._current = defaultdict(dict)
        self.epoch += 1
        self._history.appendleft(finished)
        if self.window is not None:
            while len(self._history) > self.window:
                self._history.pop()
        if self.window is None and self.decay == 1.0:
            for trie in self._tries.values():
                trie.close_all()
        else:
            self._rebuild()

    def _rebuild(self) -> None:
        tries: dict[Hashable, object] = {}
        for age, epoch in enumerate(self._history, start=1):
            weight = self.decay ** age
            for group, seqs in epoch.items():
                trie = tries.get(group)
                if trie is None:
                    trie = tries[group] = self._trie_cls(self.depth)
                for tokens in seqs:
                    trie.insert(tokens, weight)
        self._tries = tries

    def corpus(self, problem: Hashable) -> list[tuple[list[int], float]]:
        """The sequences the drafter draws on for `problem`, with their weights (what a
        brute-force search over the same history would see)."""
        group = problem if self.scope == "problem" else GLOBAL
        out = [(list(t), 1.0) for t in self._current.get(group, {}).values()]
        for age, epoch in enumerate(self._history, start=1):
            out += [(list(t), self.decay ** age) for t in epoch.get(group, [])]
        return out


class StaticDrafter(DASDrafter):
    """A drafter that learns during `warmup_epochs` and is frozen after (the paper's
    stand-in for a fixed, pre-trained drafter such as EAGLE): all warm-up history, no
    window, no online updates once frozen."""

    def __init__(self, warmup_epochs: int = 1, depth: int = 24, scope: str = "problem",
                 min_prob: float = 0.0, factor: float | None = None, trie: str = "auto") -> None:
        super().__init__(window=None, decay=1.0, depth=depth, scope=scope,
                         min_prob=min_prob, factor=factor, trie=trie)
        self.warmup_epochs = warmup_epochs

    @property
    def frozen(self) -> bool:
        return self.epoch >= self.warmup_epochs

    def observe(self, key: SeqKey, tokens: Sequence[int]) -> None:
        if not self.frozen:
            super().observe(key, tokens)
