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
    """Length of the common prefix of `a[a_start:]` and `b`.

    Gallops to a window that holds the first mismatch, then bisects it, so the slices
    compared add up to a few times the common prefix rather than to `len(b)` per step.
    """
    n = min(len(a) - a_start, len(b))
    if n <= 0 or a[a_start] != b[0]:
        return 0
    if a[a_start : a_start + n] == b[:n]:
        return n
    lo, step = 1, 1  # a[a_start:a_start+lo] == b[:lo] holds; the full n does not match
    while True:
        hi = min(lo + step, n)
        if a[a_start + lo : a_start + hi] != b[lo:hi]:
            break
        lo, step = hi, step * 2
    while hi - lo > 1:  # [0, lo) matches, [lo, hi) holds the first mismatch
        mid = (lo + hi) // 2
        if a[a_start + lo : a_start + mid] == b[lo:mid]:
            lo = mid
        else:
            hi = mid
    return lo
