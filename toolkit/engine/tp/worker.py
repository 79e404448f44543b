"""The body of each rank process: join the group, load the full model, then serve.

A leader serves the client's calls from its pipe (`TPLeader.cmd_*`). Another active rank
loops on its instance group for the leader's headers (steps, migrations) until told to
leave; an idle rank, and any rank between loops, waits on the world group for rank 0's
control messages (switch, regroup, inspect, shutdown). In a tiled world a regroup changes
roles: a leader whose instance vanishes becomes a member, a member that starts an instance
becomes its leader (a fresh one, reported "ready"). Every rank reports start-up, `inspect`
and errors on its own pipe.
"""

from __future__ import annotations

import contextlib
import os
import traceback
from typing import Any

import torch.distributed as dist

from toolkit.engine.tp.comm import (
    Cmd,
    broadcast_ints,
    payload_size,
    recv_header,
    regroup_world,
    unpack_step,
)
from toolkit.engine.tp.rank import RankState, WorkerSpec, init_distributed


def worker_main(rank: int, spec: WorkerSpec, conn: Any) -> None:
    """Entry point of rank `rank` (run in a spawned process)."""
    if spec.backend == "gloo":
        os.environ.setdefault("GLOO_SOCKET_IFNAME", "lo")  # every rank runs on this machine
    try:
        init_distributed(rank, spec)
        state = RankState(rank, spec)
        serve(state, conn)
    except (KeyboardInterrupt, EOFError):
        pass
    except BaseException:
        with contextlib.suppress(OSError):
            conn.send(("fatal", traceback.format_exc()))
    finally:
        if dist.is_initialized():
            dist.destroy_process_group()


def serve(state: RankState, conn: Any) -> None:
    """Lead or follow, as the layout says, until shut down (a regroup may change roles)."""
    from toolkit.engine.tp.leader import TPLeader

    started = False
    while True:
        if state.is_leader:
            leader = TPLeader(state)
            conn.send(("ready", state.rank))  # at start-up, or as a new instance's leader
            if serve_leader(leader, conn):
                return
        else:
            if not started:
                conn.send(("ready", state.rank))
            if serve_member(state, conn):
                return
        started = True


def serve_leader(leader: Any, conn: Any) -> bool:
    """Answer `(name, args, kwargs)` calls with ("ok", result) or ("error", traceback) until
    ("shutdown",) (return True) or a regroup ends this rank's lead (False)."""
    while True:
        name, *rest = conn.recv()
        if name == "shutdown":
            leader.shutdown()
            conn.send(("ok", None))
            return True
        args, kwargs = rest
        try:
            result = getattr(leader, f"cmd_{name}")(*args, **kwargs)
        except Exception as exc:  # the caller re-raises it
            conn.send(("error", (type(exc).__name__, str(exc), traceback.format_exc())))
            continue
        conn.send(("ok", result))
        if not leader.state.is_leader:
            return False


def serve_member(state: RankState, conn: Any) -> bool:
    """A non-leader rank: step with its instance while active, obey rank 0's control
    messages otherwise, until shut down (return True) or a regroup makes it a leader
    (False)."""
    while True:
        stepping = state.active and not state.is_leader and state.tp > 1
        if stepping and follow_steps(state) == Cmd.SHUTDOWN:
            return True
        header = recv_header(0, dist.group.WORLD, state.device)
        cmd = Cmd(header[0])
        if cmd == Cmd.SHUTDOWN:
            return True
        if cmd == Cmd.REGROUP:
            regroup_world(state, header[1], None)
            if state.is_leader:
                return False
        elif cmd == Cmd.SWITCH:
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
