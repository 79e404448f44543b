"""The body of each rank process: join the group, load the full model, then serve.

A leader serves the client's calls from its pipe (`TPLeader.cmd_*`). Another active rank
loops on its instance group for the leader's headers (steps, migrations) until told to
leave; an idle rank, and any rank between loops, waits on the world group for rank 0's
control messages (switch, inspect, shutdown). Every rank reports start-up, `inspect` and
errors on its own pipe.
"""

from __future__ import annotations

import contextlib
import os
import traceback
from typing import Any

import torch.distributed as dist

from toolkit.engine.tp.comm import Cmd, broadcast_ints, payload_size, recv_header, unpack_step
from toolkit.engine.tp.rank import RankState, WorkerSpec, init_distributed


def worker_main(rank: int, spec: WorkerSpec, conn: Any) -> None:
    """Entry point of rank `rank` (run in a spawned process)."""
    if spec.backend == "gloo":
        os.environ.setdefault("GLOO_SOCKET_IFNAME", "lo")  # every rank runs on this machine
    try:
        init_distributed(rank, spec)
        state = RankState(rank, spec)
        if state.is_leader:
            from toolkit.engine.tp.leader import TPLeader

            leader = TPLeader(state)
            conn.send(("ready", rank))
            serve_leader(leader, conn)
        else:
            conn.send(("ready", rank))
            serve_member(state, conn)
    except (KeyboardInterrupt, EOFError):
        pass
    except BaseException:
        with contextlib.suppress(OSError):
            conn.send(("fatal", traceback.format_exc()))
    finally:
        if dist.is_initialized():
            dist.destroy_process_group()


def serve_leader(leader: Any, conn: Any) -> None:
    """Answer `(name, args, kwargs)` calls with ("ok", result) or ("error", traceback) until
    ("shutdown",)."""
    while True:
        name, *rest = conn.recv()
        if name == "shutdown":
            leader.shutdown()
            conn.send(("ok", None))
            return
        args, kwargs = rest
        try:
            result = getattr(leader, f"cmd_{name}")(*args, **kwargs)
        except Exception as exc:  # the caller re-raises it
            conn.send(("error", (type(exc).__name__, str(exc), traceback.format_exc())))
            continue
        conn.send(("ok", result))


def serve_member(state: RankState, conn: Any) -> None:
    """A non-leader rank: step with its instance while active, obey rank 0's control
    messages otherwise, until shut down."""
    while True:
        stepping = state.active and not state.is_leader and state.tp > 1
        if stepping and follow_steps(state) == Cmd.SHUTDOWN:
            return
        header = recv_header(0, dist.group.WORLD, state.device)
        cmd = Cmd(header[0])
        if cmd == Cmd.SHUTDOWN:
            return
        if cmd == Cmd.SWITCH:
            new_tp, num_live = header[1], header[2]
            live = broadcast_ints(None, num_live, 0, dist.group.WORLD, state.device).tolist()
            state.switch(new_tp, live)
        elif cmd == Cmd.INSPECT:
            conn.send(("inspect", state.inspect()))


def follow_steps(state: RankState) -> Cmd:
    """Run the leader's steps and migrations; return the command that ends the loop
    (CONTROL or SHUTDOWN)."""
    leader, group, device = state.leader, state.group, state.device
    while True:
        header = recv_header(leader, group, device)
        cmd = Cmd(header[0])
        if cmd == Cmd.STEP:
            payload = broadcast_ints(None, payload_size(header), leader, group, device)
            ids, positions, meta, all_reduce = unpack_step(header, payload)
            state.forward(ids, positions, meta, all_reduce)
        elif cmd in (Cmd.MIGRATE_OUT, Cmd.MIGRATE_IN):
            peer, num_blocks = header[1], header[2]
            blocks = broadcast_ints(None, num_blocks, leader, group, device).tolist()
            if cmd == Cmd.MIGRATE_OUT:
                state.migrate(leader, peer, blocks, [])
            else:
                state.migrate(peer, leader, [], blocks)
        else:
            return cmd
