"""Drafters against brute-force scans of the same history (tests/spec/oracle.py)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.spec.oracle import best_over_matches, prompt_lookup, tree_draft
from toolkit.spec.base import SeqKey
from toolkit.spec.das import DASDrafter, StaticDrafter
from toolkit.spec.ngram import PromptLookup
from toolkit.spec.suffix import SuffixDecoding
from toolkit.spec.tree_draft import draft_from
from toolkit.spec.trie import CSuffixTrie, PySuffixTrie

tokens = st.lists(st.integers(0, 3), min_size=0, max_size=30)
corpora = st.lists(tokens, min_size=1, max_size=5)
SETTINGS = settings(max_examples=150, deadline=None)
# both implementations of the trie; the C++ one where it is built (test_native_trie.py
# fails when a compiler is there and it is not)
TRIES = [PySuffixTrie] + ([CSuffixTrie] if CSuffixTrie is not None else [])
impls = pytest.mark.parametrize("SuffixTrie", TRIES, ids=lambda c: c.__module__)
IMPLS = ["python"] + (["native"] if CSuffixTrie is not None else [])


def dump(trie) -> dict:
    """Every node as path -> (weight, heaviest child)."""
    out, stack = {}, [((), trie.root)]
    while stack:
        path, node = stack.pop()
        out[path] = (trie.weight(node), trie.best(node))
        stack += [((*path, t), kid) for t, _, kid in trie.children(node)]
    return out


@impls
@SETTINGS
@given(corpora, tokens, st.integers(2, 8), st.integers(1, 6),
       st.sampled_from([0.0, 0.3, 0.6]), st.sampled_from([None, 0.5, 1.0, 2.0]))
def test_trie_draft_matches_brute_force(SuffixTrie, corpus, context, depth, k, min_prob, factor):
    trie = SuffixTrie(depth)
    for seq in corpus:
        trie.insert(seq)
    d = draft_from(trie, context, k, min_prob=min_prob, factor=factor)
    want, scores, m = tree_draft([(s, 1.0) for s in corpus], context, k, depth, min_prob, factor)
    assert list(d.tokens) == want
    assert list(d.scores) == pytest.approx(scores)
    if want:
        assert d.match_len == m


@impls
@SETTINGS
@given(corpora, st.integers(2, 6), st.data())
def test_interleaved_streams_equal_whole_inserts(SuffixTrie, corpus, depth, data):
    whole, mixed = SuffixTrie(depth), SuffixTrie(depth)
    for seq in corpus:
        whole.insert(seq)
    pos = [0] * len(corpus)
    while any(p < len(s) for p, s in zip(pos, corpus)):
        i = data.draw(st.sampled_from([j for j, s in enumerate(corpus) if pos[j] < len(s)]))
        step = data.draw(st.integers(1, 4))
        mixed.append(i, corpus[i][pos[i]:pos[i] + step])
        pos[i] += step
    assert dump(mixed) == dump(whole)


@impls
@SETTINGS
@given(corpora, corpora, st.integers(2, 6))
def test_remove_takes_back_insert(SuffixTrie, kept, dropped, depth):
    both, only = SuffixTrie(depth), SuffixTrie(depth)
    for seq in kept:
        both.insert(seq)
        only.insert(seq)
    for seq in dropped:
        both.insert(seq)
    for seq in dropped:
        both.remove(seq)
    assert dump(both) == dump(only)


@impls
def test_remove_of_unknown_sequence_fails(SuffixTrie):
    trie = SuffixTrie(4)
    trie.insert([1, 2])
    with pytest.raises(KeyError, match="never inserted"):
        trie.remove([3])


@SETTINGS
@given(st.lists(st.integers(0, 2), max_size=25), st.integers(1, 5), st.integers(1, 3),
       st.integers(0, 2))
def test_prompt_lookup_matches_brute_force(context, k, min_n, extra):
    d = PromptLookup(min_n, min_n + extra).propose(SeqKey(0, 0), context, k)
    assert list(d.tokens) == prompt_lookup(context, k, min_n, min_n + extra)


# DAS: epochs of rollouts per problem, the window and decay recomputed by the test
epochs_st = st.lists(st.lists(st.tuples(st.integers(0, 1), tokens), max_size=4),
                     min_size=1, max_size=5)


@pytest.mark.parametrize("impl", IMPLS)
@SETTINGS
@given(epochs_st, st.sampled_from([None, 1, 2, 3]), st.sampled_from([1.0, 0.5]),
       st.sampled_from(["problem", "global"]), tokens, st.integers(1, 5))
def test_das_window_matches_brute_force(impl, epochs, window, decay, scope, context, k):
    drafter = DASDrafter(window=window, decay=decay, depth=6, scope=scope, trie=impl)
    for e, rollouts in enumerate(epochs):
        for j, (problem, seq) in enumerate(rollouts):
            half = len(seq) // 2
            drafter.observe(SeqKey(problem, (e, j)), seq[:half])
            drafter.observe(SeqKey(problem, (e, j)), seq[half:])
        if e < len(epochs) - 1:
            drafter.new_epoch()
    last = len(epochs) - 1
    for problem in (0, 1):
        corpus = [(seq, decay ** (last - e))
                  for e, rollouts in enumerate(epochs)
                  if window is None or last - e <= window
                  for p, seq in rollouts if scope == "global" or p == problem]
        d = drafter.propose(SeqKey(problem, "new"), context, k)
        want, scores, _ = tree_draft(corpus, context, k, 6)
        assert list(d.tokens) == want
        assert list(d.scores) == pytest.approx(scores)


def test_per_problem_trie_keeps_problems_apart():
    d = DASDrafter(window=4)
    d.observe(SeqKey("a", 0), [1, 2, 3, 4])
    d.observe(SeqKey("b", 0), [1, 2, 9, 9])
    assert d.propose(SeqKey("a", 1), [1, 2], 2).tokens == (3, 4)
    assert d.propose(SeqKey("b", 1), [1, 2], 2).tokens == (9, 9)
    assert d.propose(SeqKey("c", 1), [1, 2], 2).tokens == ()


def test_window_forgets_old_epochs():
    d = DASDrafter(window=1)
    d.observe(SeqKey("a", 0), [1, 2, 3])
    d.new_epoch()
    assert d.propose(SeqKey("a", 1), [1], 2).tokens == (2, 3)
    d.new_epoch()  # the epoch with [1, 2, 3] is now two epochs old
    assert d.propose(SeqKey("a", 1), [1], 2).tokens == ()


def test_static_drafter_freezes_after_warmup():
    d = StaticDrafter(warmup_epochs=1)
    d.observe(SeqKey("a", 0), [1, 2, 3])
    d.new_epoch()
    d.observe(SeqKey("a", 1), [1, 2, 7, 1, 2, 7, 1, 2, 7])
    assert d.propose(SeqKey("a", 2), [1, 2], 1).tokens == (3,)
    d.new_epoch()
    assert d.propose(SeqKey("a", 2), [1, 2], 1).tokens == (3,)


@pytest.mark.parametrize("impl", IMPLS)
@SETTINGS
@given(st.lists(tokens, min_size=1, max_size=6), st.integers(1, 3), tokens, st.integers(1, 5))
def test_suffix_decoding_matches_brute_force(impl, outputs, cached, context, k):
    drafter = SuffixDecoding(depth=6, factor=1.0, min_prob=0.1, max_cached_requests=cached,
                             trie=impl)
    for i, seq in enumerate(outputs):
        drafter.observe(SeqKey(0, i), seq)
        drafter.finish(SeqKey(0, i))
    kept = [s for s in outputs if s][-cached:]
    d = drafter.propose(SeqKey(0, "new"), context, k)
    local = best_over_matches([(context, 1.0)], context, k, 6, 0.1, 1.0)
    glob = best_over_matches([(s, 1.0) for s in kept], context, k, 6, 0.1, 1.0)
    want = glob if sum(glob[1]) > sum(local[1]) else local
    assert list(d.tokens) == want[0]
    assert list(d.scores) == pytest.approx(want[1])


def test_bad_settings_are_rejected_by_name():
    with pytest.raises(ValueError, match="window"):
        DASDrafter(window=-1)
    with pytest.raises(ValueError, match="decay"):
        DASDrafter(decay=0)
    with pytest.raises(ValueError, match="scope"):
        DASDrafter(scope="batch")
    with pytest.raises(ValueError, match="min_n"):
        PromptLookup(3, 2)
    with pytest.raises(ValueError, match="max_cached_requests"):
        SuffixDecoding(max_cached_requests=0)
