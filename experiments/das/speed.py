"""Drafter speed by corpus size (Fig. 5): median proposal time and update time per 100
tokens, for our tries and, where it is installed, ArcticInference's C++ suffix tree (the
code behind vLLM's `suffix` method; `scripts/build_arctic.sh` builds it)."""

from __future__ import annotations

import random
import statistics
import time
from collections.abc import Callable
from functools import partial

import pandas as pd

from toolkit.spec.base import Draft, Drafter, SeqKey
from toolkit.spec.das import DASDrafter
from toolkit.spec.replay import Rollout, replay
from toolkit.spec.suffix import SuffixDecoding

SEQ_LEN = 1000


def corpus(num_tokens: int, vocab: int = 1000, seed: int = 0) -> list[list[int]]:
    """Sequences of `SEQ_LEN` tokens stitched from 2,000 random phrases drawn with
    Zipf-like weights, a fifth of the tokens replaced at random (repetitive, not periodic)."""
    rng = random.Random(seed)
    phrases = [[rng.randrange(vocab) for _ in range(rng.randint(3, 12))] for _ in range(2000)]
    weights = [1 / (i + 1) for i in range(len(phrases))]
    out = []
    for _ in range(max(1, num_tokens // SEQ_LEN)):
        seq: list[int] = []
        while len(seq) < SEQ_LEN:
            seq += rng.choices(phrases, weights)[0]
        out.append([t if rng.random() > 0.2 else rng.randrange(vocab) for t in seq[:SEQ_LEN]])
    return out


def arctic_tree(depth: int):
    """ArcticInference's `SuffixTree` class, or None when the package is not installed."""
    try:
        from arctic_inference.suffix_decoding._C import SuffixTree
    except ImportError:
        return None
    return SuffixTree(depth)


def _median_us(calls: list[Callable[[], object]]) -> float:
    times = []
    for call in calls:
        t0 = time.perf_counter()
        call()
        times.append(time.perf_counter() - t0)
    return statistics.median(times) * 1e6


def _ours(d, seqs, contexts, new, max_tokens) -> tuple[float, float]:
    for i, s in enumerate(seqs):
        d.observe(SeqKey(0, i), s)
        d.finish(SeqKey(0, i))
    propose = _median_us([partial(d.propose, SeqKey(0, "q"), c[-64:], max_tokens)
                          for c in contexts])
    update = _median_us([partial(d.observe, SeqKey(0, f"u{j}"), u) for j, u in enumerate(new)])
    return propose, update


def _arctic(tree, seqs, contexts, new, depth, max_tokens) -> tuple[float, float]:
    for i, s in enumerate(seqs):
        tree.extend(i, s)
    propose = _median_us([partial(tree.speculate, c[-depth:], max_tokens, 1.0, 0.0, 0.1, False)
                          for c in contexts])
    update = _median_us([partial(tree.extend, 10**9 + j, u) for j, u in enumerate(new)])
    return propose, update


def measure(num_tokens: int, depth: int = 24, max_tokens: int = 8, queries: int = 2000,
            updates: int = 100, seed: int = 0) -> list[dict]:
    """One row per drafter at this corpus size."""
    seqs = corpus(num_tokens, seed=seed)
    rng = random.Random(seed + 1)
    held = corpus(SEQ_LEN * 4, seed=seed + 7)
    contexts = [rng.choice(held)[: rng.randint(depth, SEQ_LEN - 1)] for _ in range(queries)]
    new = [rng.choice(held)[j:j + 100] for j in (rng.randrange(SEQ_LEN - 100)
                                                  for _ in range(updates))]
    rows = []
    makers = {"DAS trie (per problem, Python)": lambda: DASDrafter(window=None, depth=depth),
              "SuffixDecoding (Python, vLLM search)": lambda: SuffixDecoding(depth=depth,
                                                                             min_prob=0.1)}
    size = len(seqs) * SEQ_LEN
    for name, make in makers.items():
        propose, update = _ours(make(), seqs, contexts, new, max_tokens)
        rows.append(dict(drafter=name, corpus_tokens=size, propose_us=propose,
                         update_us_per_100=update))
    tree = arctic_tree(depth)
    if tree is not None:
        propose, update = _arctic(tree, seqs, contexts, new, depth, max_tokens)
        rows.append(dict(drafter="ArcticInference suffix tree (C++)", corpus_tokens=size,
                         propose_us=propose, update_us_per_100=update))
    return rows


def speed_table(sizes=(10_000, 100_000, 1_000_000), **kw) -> pd.DataFrame:
    """`measure` at each corpus size."""
    return pd.DataFrame([r for n in sizes for r in measure(n, **kw)])


class ArcticDrafter(Drafter):
    """ArcticInference's `SuffixDecodingCache` behind the toolkit's drafter interface (for
    comparing acceptance on the same tokens; vLLM's defaults)."""

    def __init__(self, depth: int = 24, factor: float = 1.0, min_prob: float = 0.1) -> None:
        from arctic_inference.suffix_decoding import SuffixDecodingCache

        self.cache = SuffixDecodingCache(max_tree_depth=depth, max_cached_requests=10_000)
        self.factor, self.min_prob = factor, min_prob
        self._started: set = set()
        self._ids: dict = {}

    def _rid(self, key: SeqKey, context) -> int:
        rid = self._ids.setdefault(key, len(self._ids))
        if rid not in self._started:
            self.cache.start_request(rid, list(context))
            self._started.add(rid)
        return rid

    def propose(self, key: SeqKey, context, max_tokens: int) -> Draft:
        rid = self._rid(key, context)
        d = self.cache.speculate(rid, list(context), max_spec_tokens=max_tokens,
                                 max_spec_factor=self.factor, min_token_prob=self.min_prob)
        tokens = tuple(d.token_ids)
        return Draft(tokens, (1.0,) * len(tokens), tuple(d.probs), None, d.match_len)

    def observe(self, key: SeqKey, tokens) -> None:
        rid = self._ids.get(key)
        if rid is not None and rid in self._started:
            self.cache.add_active_response(rid, list(tokens))

    def finish(self, key: SeqKey) -> None:
        rid = self._ids.get(key)
        if rid is not None and rid in self._started:
            self.cache.stop_request(rid)
            self._started.discard(rid)


def acceptance_vs_arctic(num_tokens: int = 20_000, max_tokens: int = 8) -> pd.DataFrame | None:
    """Accepted tokens per round and acceptance rate of our SuffixDecoding and
    ArcticInference's, replayed over the same corpus (None when it is not installed)."""
    if arctic_tree(8) is None:
        return None
    seqs = corpus(num_tokens, seed=3)
    epochs = [[Rollout(0, i, [1], s[:300]) for i, s in enumerate(seqs)]]
    rows = []
    for name, drafter in (("SuffixDecoding (ours)", SuffixDecoding()),
                          ("ArcticInference", ArcticDrafter())):
        r = replay(drafter, epochs, max_tokens)
        drafted = r[r["drafted"] > 0]
        rows.append(dict(drafter=name, positions=len(r),
                         draft_share=float((r["drafted"] > 0).mean()),
                         accepted_per_round=float(drafted["matched"].mean()),
                         acceptance_rate=float(r["matched"].sum() / max(1, r["drafted"].sum()))))
    return pd.DataFrame(rows)


def use_built_arctic() -> bool:
    """Put `scripts/build_arctic.sh`'s build (.cache/arctic/pkg) on the import path; True
    when ArcticInference then imports."""
    import sys
    from pathlib import Path

    pkg = Path(__file__).resolve().parents[2] / ".cache" / "arctic" / "pkg"
    if pkg.is_dir() and str(pkg) not in sys.path:
        sys.path.insert(0, str(pkg))
    return arctic_tree(8) is not None


def ratios(table: pd.DataFrame) -> pd.DataFrame:
    """Per corpus size: our DAS trie's proposal and update time over ArcticInference's
    (empty when it is not in the table)."""
    arc = table[table["drafter"].str.startswith("ArcticInference")].set_index("corpus_tokens")
    das = table[table["drafter"].str.startswith("DAS")].set_index("corpus_tokens")
    if arc.empty:
        return pd.DataFrame(columns=["propose_x", "update_x"])
    return pd.DataFrame({"propose_x": das["propose_us"] / arc["propose_us"],
                         "update_x": das["update_us_per_100"] / arc["update_us_per_100"]})


def ratio_text(table: pd.DataFrame) -> str:
    """The comparison with ArcticInference in words, from the table."""
    r = ratios(table)
    if r.empty:
        return "ArcticInference is not built here (`bash scripts/build_arctic.sh`): no ratio."
    lines = [f"- {n:,} tokens: proposal {x.propose_x:.1f}x, update {x.update_x:.1f}x "
             "ArcticInference's time" for n, x in r.iterrows()]
    worst = max(r["propose_x"].max(), r["update_x"].max())
    verdict = ("within" if worst <= 3 else "not within")
    return "\n".join([*lines, f"- the issue's goal, within 3x of the C++ tree: {verdict} "
                      f"(worst {worst:.1f}x; the tries are pure Python)"])
