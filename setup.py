"""The one compiled piece: the C++ suffix trie of the drafters (toolkit/spec/native). It is
optional: where it does not build, toolkit.spec.trie falls back to the Python trie, which
gives the same drafts."""

from setuptools import Extension, setup

setup(ext_modules=[Extension(
    "toolkit.spec._ctrie", ["toolkit/spec/native/trie.cpp"], language="c++",
    extra_compile_args=["-O2", "-std=c++17", "-ffp-contract=off"], optional=True)])
