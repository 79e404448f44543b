"""Preble E2's post-assignment load adjustment: rebalancing and hot-prefix autoscaling.

Both act on *key portions* (large nodes, see `GlobalNode.is_large`) allocated to the
heaviest GPU that had at least two window requests (the code's `count > 1` filter). A move
re-allocates the prefix with its whole subtree and moves its window records' load to the
target GPU, so later decisions see the shifted load at once, as the code's histogram does.

Differences from the public code (WukLab/preble `handle_important_node_stealing*`), noted
because the paper gives no detail: per-GPU load is the full `L_i` (the code counts only
nodes with ≥ 2 window requests); one heavy/light pair is balanced per call (the code then
recurses on the other GPUs; our call runs after every request instead); the code's gate
"leaf fewer than 3 levels below its large node" is not applied; autoscaling picks the
costliest flagged prefix on the heaviest GPU (the code requires it to be the only one).
"""

from __future__ import annotations

from collections.abc import Iterator

from toolkit.route.e2_state import E2State, Record
from toolkit.route.global_tree import GlobalNode
from toolkit.route.load_cost import decode_per_request_s, historical_load_s


def subtree(node: GlobalNode) -> Iterator[GlobalNode]:
    """`node` and its descendants, depth first in child-insertion order."""
    stack = [node]
    while stack:
        n = stack.pop()
        yield n
        stack.extend(reversed(list(n.children.values())))


def subtree_records(node: GlobalNode, gpu: int) -> list[Record]:
    """Window records of `node`'s subtree tagged with `gpu`, oldest first."""
    recs = [r for n in subtree(node) for r in n.records if r.gpu == gpu]
    recs.sort(key=lambda r: r.t)
    return recs


def _allocate_ancestors(state: E2State, node: GlobalNode, gpu: int) -> None:
    anc = node.parent
    while anc is not None and anc.parent is not None:
        if anc.cnt:
            state.add_alloc(anc, gpu)
        anc = anc.parent


def move_prefix(state: E2State, node: GlobalNode, src: int, dst: int) -> None:
    """Re-allocate `node`'s subtree from GPU `src` to `dst` and move its window load."""
    for n in subtree(node):
        if src in n.alloc:
            state.remove_alloc(n, src)
            state.add_alloc(n, dst)
    for rec in subtree_records(node, src):
        state.retag(rec, dst)
    _allocate_ancestors(state, node, dst)


def replicate_prefix(state: E2State, node: GlobalNode, src: int, dst: int) -> None:
    """Add `dst` to the allocation of `node`'s subtree and move every other record of its
    window load from `src` to `dst` (the split 'by load')."""
    for n in subtree(node):
        if src in n.alloc:
            state.add_alloc(n, dst)
    for rec in subtree_records(node, src)[1::2]:
        state.retag(rec, dst)
    _allocate_ancestors(state, node, dst)


def ttft_doubled(node: GlobalNode, gpu: int, now_s: float, window_s: float,
                 factor: float) -> bool:
    """Whether the mean TTFT of `node`'s requests on `gpu` in the newer half of the window is
    at least `factor` × that of the older half (the code's detector; factor 2)."""
    win = node.ttft.get(gpu)
    if win is None:
        return False
    mid = now_s - window_s / 2
    old, new = win.mean(now_s - window_s, mid), win.mean(mid, now_s)
    return old is not None and new is not None and new >= factor * old


def _try_autoscale(state: E2State, cands: list[GlobalNode], cost_h: dict[GlobalNode, float],
                   heavy: int, light: int, now_s: float, factor: float) -> bool:
    for node in sorted(cands, key=lambda n: -cost_h[n]):
        if light not in node.alloc and ttft_doubled(node, heavy, now_s, state.window_s, factor):
            replicate_prefix(state, node, heavy, light)
            return True
    return False


def _try_moves(state: E2State, cands: list[GlobalNode], loads: dict[int, float], heavy: int,
               light: int, threshold: float, dec: tuple[float, float],
               cost_h: dict[GlobalNode, float]) -> bool:
    moved = False
    for node in sorted(cands, key=lambda n: cost_h[n]):
        if loads[heavy] <= threshold * loads[light]:
            break
        if heavy not in node.alloc or heavy not in node.cnt_gpu:
            continue  # moved with an ancestor already
        pf, num = node.load.get(heavy, 0.0), node.cnt_gpu[heavy]  # fresh: a child may have moved
        v_h, v_l = pf + num * dec[0], pf + num * dec[1]
        if loads[heavy] - v_h < loads[light] + v_l:
            continue  # the move would invert the imbalance
        move_prefix(state, node, heavy, light)
        loads[heavy] -= v_h
        loads[light] += v_l
        moved = True
    return moved


def imbalance(state: E2State, live: list[int], threshold: float,
              default_output_len: int) -> tuple[dict[int, float], int, int] | None:
    """Each live GPU's `L`, the heaviest GPU and the lightest (ties to the lowest id), when
    the heaviest's exceeds `threshold` × the lightest's; None otherwise (or under 2 GPUs)."""
    if len(live) < 2:
        return None
    gpus, loads = state.gpus, {}
    for g in live:  # `historical_load_s`, its memo read here
        memo = gpus[g].load_memo
        loads[g] = (memo[1] if memo is not None and memo[0] == default_output_len
                    else historical_load_s(state, g, default_output_len))
    heavy = -max([(v, -g) for g, v in loads.items()])[1]
    light = min([(v, g) for g, v in loads.items()])[1]
    if loads[heavy] <= threshold * loads[light]:
        return None
    return loads, heavy, light


def rebalance(
    state: E2State,
    live: list[int],
    now_s: float,
    *,
    threshold: float,
    default_output_len: int,
    enable_moves: bool = True,
    enable_autoscale: bool = False,
    autoscale_factor: float = 2.0,
    found: tuple[dict[int, float], int, int] | None = None,
) -> str | None:
    """One adjustment round on the heaviest and lightest live GPUs, when the heaviest's `L`
    exceeds `threshold` × the lightest's; returns 'autoscale', 'move' or None. `found`, if
    given, is `imbalance(state, live, threshold, default_output_len)` computed just before."""
    if found is None:
        found = imbalance(state, live, threshold, default_output_len)
        if found is None:
            return None
    loads, heavy, light = found
    dec_h = decode_per_request_s(state, heavy, default_output_len)
    cands = [n for n in state.hot[heavy] if n.is_large and heavy in n.cnt_gpu]
    cost_h = {n: n.load.get(heavy, 0.0) + n.cnt_gpu[heavy] * dec_h for n in cands}
    if enable_autoscale and _try_autoscale(state, cands, cost_h, heavy, light, now_s,
                                           autoscale_factor):
        return "autoscale"
    if enable_moves:
        dec_l = decode_per_request_s(state, light, default_output_len)
        if _try_moves(state, cands, loads, heavy, light, threshold, (dec_h, dec_l), cost_h):
            return "move"
    return None
