"""Key helpers shared by the routers: tuple conversion and fast common-prefix length.

Comparisons use tuple slice equality (C speed) and a binary search for the mismatch point,
so no router walks a prompt token by token in Python.
"""

from __future__ import annotations

from collections.abc import Sequence


def as_key(key: Sequence[int]) -> tuple[int, ...]:
    """`key` as a tuple of Python ints (numpy arrays are converted through `tolist`)."""
    if isinstance(key, tuple):
        return key
    tolist = getattr(key, "tolist", None)
    return tuple(tolist()) if tolist is not None else tuple(key)


def common_prefix_len(a: tuple[int, ...], a_start: int, b: tuple[int, ...]) -> int:
    """Length of the common prefix of `a[a_start:]` and `b`."""
    n = min(len(a) - a_start, len(b))
    if n <= 0 or a[a_start] != b[0]:
        return 0
    if a[a_start : a_start + n] == b[:n]:
        return n
    lo, hi = 1, n - 1  # a[a_start:a_start+lo] == b[:lo] holds; the full n does not match
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if a[a_start : a_start + mid] == b[:mid]:
            lo = mid
        else:
            hi = mid - 1
    return lo
