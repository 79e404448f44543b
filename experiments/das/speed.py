"""Drafter speed by corpus size (Fig. 5): median proposal time and update time per 100
tokens, for our drafters on each trie implementation (C++ where built, Python), our C++
trie called directly, and, where it is installed, ArcticInference's C++ suffix tree (the
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
from toolkit.spec.trie import CSuffixTrie

SEQ_LEN = 1000
DAS_CPP, DAS_PY = "DAS drafter, C++ trie", "DAS drafter, Python trie"
TRIE_CPP = "C++ trie, one call (vLLM search)"
ARCTIC = "ArcticInference suffix tree (C++)"


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


def _load(observe, finish, seqs) -> None:
    for i, seq in enumerate(seqs):
        observe(i, seq)
        finish(i)


def _timed(propose, update, contexts, new, warm) -> tuple[float, float]:
    """Median proposal time, then median update time after one untimed round of updates
    (the first inserts after a bulk load touch fresh memory) from other sequences than the
    timed ones."""
    p = _median_us([partial(propose, c) for c in contexts])
    for j, u in enumerate(warm):
        update(10**8 + j, u)
    return p, _median_us([partial(update, 2 * 10**8 + j, u) for j, u in enumerate(new)])


def _drafter(d, seqs, contexts, new, warm, max_tokens) -> tuple[float, float]:
    _load(lambda i, s: d.observe(SeqKey(0, i), s), lambda i: d.finish(SeqKey(0, i)), seqs)
    return _timed(lambda c: d.propose(SeqKey(0, "q"), c[-64:], max_tokens),
                  lambda name, u: d.observe(SeqKey(0, name), u), contexts, new, warm)


def _trie(depth, seqs, contexts, new, warm, max_tokens) -> tuple[float, float]:
    t = CSuffixTrie(depth)
    _load(t.append, t.close, seqs)
    # the search and settings ArcticInference's `speculate` runs below (vLLM's defaults)
    return _timed(lambda c: t.best_draft(c[-depth:], max_tokens, 0.1, 1.0),
                  t.append, contexts, new, warm)


def _arctic(tree, seqs, contexts, new, warm, depth, max_tokens) -> tuple[float, float]:
    _load(tree.extend, lambda i: None, seqs)
    return _timed(lambda c: tree.speculate(c[-depth:], max_tokens, 1.0, 0.0, 0.1, False),
                  tree.extend, contexts, new, warm)


def measure(num_tokens: int, depth: int = 24, max_tokens: int = 8, queries: int = 2000,
            updates: int = 100, seed: int = 0) -> list[dict]:
    """One row per drafter at this corpus size."""
    seqs = corpus(num_tokens, seed=seed)
    rng = random.Random(seed + 1)
    held = corpus(SEQ_LEN * 4, seed=seed + 7)
    contexts = [rng.choice(held)[: rng.randint(depth, SEQ_LEN - 1)] for _ in range(queries)]
    new = [rng.choice(held)[j:j + 100] for j in (rng.randrange(SEQ_LEN - 100)
                                                  for _ in range(updates))]
    warm = [s[:100] for s in corpus(SEQ_LEN * updates, seed=seed + 11)]
    size = len(seqs) * SEQ_LEN
    timed: dict[str, Callable[[], tuple[float, float]]] = {}
    if CSuffixTrie is not None:
        timed[DAS_CPP] = lambda: _drafter(DASDrafter(window=None, depth=depth, trie="native"),
                                          seqs, contexts, new, warm, max_tokens)
        timed[TRIE_CPP] = lambda: _trie(depth, seqs, contexts, new, warm, max_tokens)
    timed[DAS_PY] = lambda: _drafter(DASDrafter(window=None, depth=depth, trie="python"),
                                     seqs, contexts, new, warm, max_tokens)
    timed["SuffixDecoding (vLLM search)"] = lambda: _drafter(
        SuffixDecoding(depth=depth, min_prob=0.1), seqs, contexts, new, warm, max_tokens)
    tree = arctic_tree(depth)
    if tree is not None:
        timed[ARCTIC] = lambda: _arctic(tree, seqs, contexts, new, warm, depth, max_tokens)
    rows = []
    for name, run in timed.items():
        propose, update = run()
        rows.append(dict(drafter=name, corpus_tokens=size, propose_us=propose,
                         update_us_per_100=update))
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
    """Per corpus size, over ArcticInference's time: our C++ trie called directly with the
    same search and settings (tree against tree), and our DAS drafter on it (its own
    settings: no probability floor, drafts up to the budget, and the drafter interface's
    Python around the call). Empty when either is not in the table."""
    t = table.set_index(["drafter", "corpus_tokens"])
    names = set(table["drafter"])
    if ARCTIC not in names or TRIE_CPP not in names:
        return pd.DataFrame(columns=["propose_x", "update_x", "drafter_propose_x",
                                     "drafter_update_x"])
    arc, tree, das = t.loc[ARCTIC], t.loc[TRIE_CPP], t.loc[DAS_CPP]
    return pd.DataFrame({"propose_x": tree["propose_us"] / arc["propose_us"],
                         "update_x": tree["update_us_per_100"] / arc["update_us_per_100"],
                         "drafter_propose_x": das["propose_us"] / arc["propose_us"],
                         "drafter_update_x": das["update_us_per_100"] / arc["update_us_per_100"]})


def ratio_text(table: pd.DataFrame) -> str:
    """The comparison with ArcticInference in words, from the table."""
    r = ratios(table)
    if r.empty:
        return ("ArcticInference (`bash scripts/build_arctic.sh`) or our C++ trie (`pip install "
                "-e .`) is not built here: no ratio.")
    lines = [f"- {n:,} tokens: our C++ trie's proposal {x.propose_x:.1f}x and update "
             f"{x.update_x:.1f}x ArcticInference's time; through the DAS drafter's interface "
             f"{x.drafter_propose_x:.1f}x and {x.drafter_update_x:.1f}x" for n, x in r.iterrows()]
    worst = max(r["propose_x"].max(), r["update_x"].max())
    verdict = ("within" if worst <= 3 else "not within")
    return "\n".join([*lines, f"- the issue's goal, within 3x of the C++ tree (tree against "
                      f"tree): {verdict} (worst {worst:.1f}x)"])
