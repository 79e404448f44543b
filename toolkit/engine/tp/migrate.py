"""Moving one running request between two engine instances (Llumnix/Nitsum-style migration).

The source leader stops the request between steps and sends its token ids; the destination
leader takes fresh blocks for it (as for a request whose KV was swapped out) and answers
whether it could; then every rank of both instances moves its KV heads of the request's
blocks (`RankState.migrate`: gather into one contiguous buffer, send, scatter into the new
blocks). The destination queues the request with all but its last token's KV in place, so
its next step computes that one token and decoding goes on where it stopped. Greedy
requests only (a sampled one would need its generator's state too).
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

import torch
import torch.distributed as dist

from toolkit.engine.sampling import SamplingParams
from toolkit.engine.sequence import EngineSeq, make_request
from toolkit.engine.tp.comm import Cmd, broadcast_ints, send_header
from toolkit.engine.tp.kv import head_moves
from toolkit.engine.tp.results import MigrationStats

if TYPE_CHECKING:
    from toolkit.engine.tp.leader import TPLeader

META_TAG, TOKENS_TAG, READY_TAG, DONE_TAG = 1, 2, 3, 4
_META_LEN = 5  # num_tokens, original prompt length, tokens left, ignore_eos, num_blocks
_READY, _NO_ROOM, _DUPLICATE = 1, 0, -1  # the destination's answer to an export


def _send(values: list[int], dst: int, tag: int, device: torch.device) -> None:
    dist.send(torch.tensor(values, dtype=torch.int64, device=device), dst, tag=tag)


def _recv(size: int, src: int, tag: int, device: torch.device) -> list[int]:
    buf = torch.empty(size, dtype=torch.int64, device=device)
    dist.recv(buf, src, tag=tag)
    return buf.tolist()


def _refusal(leader: TPLeader, rid: str, dst_instance: int) -> str:
    seq = leader.seqs.get(rid)
    state = leader.state
    if not 0 <= dst_instance < state.num_instances or dst_instance == state.instance:
        return f"dst_instance {dst_instance} is not another instance"
    if seq is None or seq.finish_reason is not None:
        return f"request {rid!r} is not running here"
    if seq not in leader.scheduler.decoding:
        return f"request {rid!r} is not decoding (still waiting or prefilling)"
    if not seq.params.greedy:
        return f"request {rid!r} samples: only greedy requests migrate"
    return ""


def export_seq(leader: TPLeader, rid: str, dst_instance: int) -> MigrationStats:
    """The source side (see the module docstring); raise ValueError, telling the
    destination, if the request cannot move, or if the destination has no room for it now
    (it stays here either way)."""
    state = leader.state
    dst_leader = dst_instance * state.tp
    reason = _refusal(leader, rid, dst_instance)
    if reason:
        if 0 <= dst_instance < state.num_instances and dst_instance != state.instance:
            _send([0] * _META_LEN, dst_leader, META_TAG, state.device)
        raise ValueError(reason)
    t0 = time.perf_counter()
    seq = leader.seqs[rid]
    kv_tokens = seq.num_tokens - 1  # the last sampled token has no KV yet
    num_blocks = leader.kv.blocks_for(kv_tokens)
    blocks = seq.block_table[:num_blocks]
    left = seq.request.output_len - seq.num_generated
    _send([seq.num_tokens, leader.prompt_lens[rid], left, int(seq.params.ignore_eos),
           num_blocks], dst_leader, META_TAG, state.device)
    _send(seq.token_ids, dst_leader, TOKENS_TAG, state.device)
    ready = _recv(1, dst_leader, READY_TAG, state.device)[0]
    if ready == _NO_ROOM:
        raise ValueError(f"instance {dst_instance} has no room for request {rid!r} now")
    if ready != _READY:
        raise RuntimeError(f"instance {dst_instance} already holds a request {rid!r}")
    if state.tp > 1:
        send_header(Cmd.MIGRATE_OUT, [dst_leader, num_blocks], state.rank, state.group,
                    state.device)
        broadcast_ints(blocks, num_blocks, state.rank, state.group, state.device)
    state.migrate(state.rank, dst_leader, blocks, [])
    _recv(1, dst_leader, DONE_TAG, state.device)
    secs = time.perf_counter() - t0
    leader.scheduler.abort(rid)
    del leader.seqs[rid], leader.prompt_lens[rid]  # it may come back later
    moves = head_moves(state.spec.model_config.num_key_value_heads,
                       state.instance_ranks(state.instance),
                       state.instance_ranks(dst_instance))
    heads = sum(m.end - m.start for m in moves if m.src != m.dst)
    moved = num_blocks * leader.block_size * state.kv.bytes_per_token(heads)
    return MigrationStats(rid, state.instance, dst_instance, secs, moved, num_blocks,
                          kv_tokens)


def import_seq(leader: TPLeader, rid: str, src_instance: int) -> str:
    """The destination side: receive request `rid` and queue it; return its id."""
    state = leader.state
    src_leader = src_instance * state.tp
    num_tokens, prompt_len, left, ignore_eos, num_blocks = _recv(_META_LEN, src_leader,
                                                                 META_TAG, state.device)
    if num_tokens == 0:
        raise ValueError(f"instance {src_instance} refused to export {rid!r} (see its error)")
    ids = _recv(num_tokens, src_leader, TOKENS_TAG, state.device)
    req = make_request(rid, time.monotonic(), ids, left, leader.block_size,
                       leader.prefix_caching)
    params = SamplingParams(temperature=0.0, max_tokens=left, ignore_eos=bool(ignore_eos))
    seq = EngineSeq(req, ids, params, None)
    seq.num_prefilled = num_tokens - 1
    seq.swapped = True  # fresh blocks for KV that comes from elsewhere, no prefix match
    duplicate = rid in leader.seqs
    ready = _DUPLICATE if duplicate else _READY if leader.kv.admit(seq) else _NO_ROOM
    seq.swapped = None
    _send([ready], src_leader, READY_TAG, state.device)
    if duplicate:
        raise RuntimeError(f"a request {rid!r} is already here")
    if ready == _NO_ROOM:
        raise ValueError(f"no room for request {rid!r} now")
    blocks = seq.block_table[:num_blocks]
    if state.tp > 1:
        send_header(Cmd.MIGRATE_IN, [src_leader, num_blocks], state.rank, state.group,
                    state.device)
        broadcast_ints(blocks, num_blocks, state.rank, state.group, state.device)
    state.migrate(src_leader, state.rank, [], blocks)
    _send([1], src_leader, DONE_TAG, state.device)
    leader.seqs[rid] = seq
    leader.prompt_lens[rid] = prompt_len
    leader.scheduler.add(seq)
    return rid
