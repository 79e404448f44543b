"""The C++ trie against the Python one: the same operations give the same nodes, weights
and drafts, bit for bit (the Python trie is checked against brute force in
test_drafters.py)."""

from __future__ import annotations

import random
import shutil
import sysconfig

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.spec.test_drafters import dump
from toolkit.spec.base import SeqKey
from toolkit.spec.das import DASDrafter
from toolkit.spec.suffix import SuffixDecoding
from toolkit.spec.tree_draft import best_over_matches, draft_from
from toolkit.spec.trie import CSuffixTrie, PySuffixTrie, trie_class

native = pytest.mark.skipif(CSuffixTrie is None, reason="toolkit.spec._ctrie is not built")
tokens = st.lists(st.integers(0, 4), max_size=25)
weights = st.sampled_from([1.0, 0.5, 0.7 ** 3, 0.9 ** 7])
ops = st.lists(st.one_of(
    st.tuples(st.just("append"), st.integers(0, 3), tokens, weights),
    st.tuples(st.just("close"), st.integers(0, 3)),
    st.tuples(st.just("insert"), tokens, weights),
    st.tuples(st.just("remove")),
    st.tuples(st.just("close_all"))), max_size=25)


def test_native_trie_is_built_where_a_compiler_is():
    """`pip install -e .` builds it (setup.py, optional); a silent fallback would hide
    here."""
    compiler = sysconfig.get_config_var("CXX") or "c++"
    if shutil.which(compiler.split()[0]) is None and shutil.which("g++") is None:
        pytest.skip("no C++ compiler on this machine")
    assert CSuffixTrie is not None, "toolkit.spec._ctrie did not build: run `pip install -e .`"


def _apply(trie, program, inserted: list) -> None:
    for op in program:
        if op[0] == "append":
            trie.append(op[1], op[2], op[3])
        elif op[0] == "close":
            trie.close(op[1])
        elif op[0] == "insert":
            trie.insert(op[1], op[2])
            inserted.append((op[1], op[2]))
        elif op[0] == "remove" and inserted:
            trie.remove(*inserted.pop(0))
        elif op[0] == "close_all":
            trie.close_all()


@native
@settings(max_examples=300, deadline=None)
@given(ops, st.integers(2, 7), tokens, st.integers(1, 6), st.sampled_from([0.0, 0.1, 0.4]),
       st.sampled_from([None, 0.5, 1.0, 2.0]), st.integers(0, 9))
def test_native_trie_equals_python_trie(program, depth, context, k, min_prob, factor, seed):
    py, cc = PySuffixTrie(depth), CSuffixTrie(depth)
    _apply(py, program, [])
    _apply(cc, program, [])
    assert dump(cc) == dump(py)  # weights compared exactly
    assert cc.num_tokens == py.num_tokens
    assert cc.match(context, depth)[0] == py.match(context, depth)[0]
    kw = dict(min_prob=min_prob, factor=factor)
    assert draft_from(cc, context, k, **kw) == draft_from(py, context, k, **kw)
    assert (draft_from(cc, context, k, **kw, rng=random.Random(seed))
            == draft_from(py, context, k, **kw, rng=random.Random(seed)))
    assert (best_over_matches(cc, context, k, min_prob=min_prob, factor=factor or 1.0)
            == best_over_matches(py, context, k, min_prob=min_prob, factor=factor or 1.0))


@native
@settings(max_examples=60, deadline=None)
@given(st.lists(st.lists(st.tuples(st.integers(0, 2), tokens), max_size=5), min_size=1,
                max_size=4), st.sampled_from([None, 1, 2]), st.sampled_from([1.0, 0.8]),
       st.booleans(), tokens)
def test_drafters_draft_alike_on_both_tries(epochs, window, decay, sample, context):
    drafters = {impl: (DASDrafter(window=window, decay=decay, depth=8, sample=sample, trie=impl),
                       SuffixDecoding(depth=8, max_cached_requests=3, sample=sample, trie=impl))
                for impl in ("python", "native")}
    for e, rollouts in enumerate(epochs):
        for das, suffix in drafters.values():
            for j, (problem, seq) in enumerate(rollouts):
                for d in (das, suffix):
                    d.observe(SeqKey(problem, (e, j)), seq)
                    d.finish(SeqKey(problem, (e, j)))
            das.new_epoch()
        for problem in (0, 1, 2):
            key = SeqKey(problem, "q")
            got = [(das.propose(key, context, 4), suffix.propose(key, context, 4))
                   for das, suffix in drafters.values()]
            assert got[0] == got[1]


@native
def test_native_trie_rejects_bad_input_by_name():
    with pytest.raises(ValueError, match="depth must be >= 2"):
        CSuffixTrie(1)
    trie = CSuffixTrie(4)
    with pytest.raises(ValueError, match="token ids"):
        trie.insert([1, -2])
    with pytest.raises(TypeError):
        trie.insert([1, "a"])
    with pytest.raises(KeyError, match="no node 99"):
        trie.children(99)
    trie.insert([1, 2])
    with pytest.raises(KeyError, match=r"\[3\] was never inserted"):
        trie.remove([3])


def test_trie_choice_is_checked():
    assert trie_class("python") is PySuffixTrie
    with pytest.raises(ValueError, match="'auto', 'native' or 'python'"):
        trie_class("rust")
    if CSuffixTrie is None:
        with pytest.raises(ImportError, match="not built"):
            trie_class("native")
