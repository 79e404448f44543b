"""Key helpers for the routers, shared with the prefix cache (`toolkit.cache.radix_node`):
tuple conversion and the common-prefix length found with slice equality and galloping, so no
router walks a prompt token by token in Python."""

from __future__ import annotations

from toolkit.cache.radix_node import as_key
from toolkit.cache.radix_node import common_prefix_len as _edge_prefix_len

__all__ = ["as_key", "common_prefix_len"]


def common_prefix_len(a: tuple[int, ...], a_start: int, b: tuple[int, ...]) -> int:
    """Length of the common prefix of `a[a_start:]` and `b`."""
    return _edge_prefix_len(b, a, a_start)
