"""`AsyncLLMEngine`: an `LLMEngine` stepped by one background thread, fed from asyncio.

The thread owns the engine: it alone calls `add_request`, `step`, `abort_request` and
`take_records`. Request handlers talk to it through a command queue and receive, on their
own asyncio queue (via `loop.call_soon_threadsafe`), one `EngineEvent` when the request is
accepted or rejected, then one per step that gave it new tokens; the last one has
`finished=True`. When nothing is pending the thread sleeps on an event (no busy spin).
Statistics are published by the thread as a plain dict after each step, so `metrics()`
never reads the engine while it runs.

Pauses: a request's events end with finish reason 'pause' at each pause; `resume` (a command
too) sends the continuation's events to a new queue. The thread also fails paused requests
past the engine's `pause_timeout_s` while idle (checked at least every `idle_wait_s`).
"""

from __future__ import annotations

import asyncio
import logging
import queue
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from toolkit.engine.engine import LLMEngine
from toolkit.engine.outputs import RequestOutput
from toolkit.engine.pause import ResumeError
from toolkit.engine.sampling import SamplingParams

log = logging.getLogger(__name__)


@dataclass(slots=True)
class EngineEvent:
    """What a request's queue receives.

    `kind` is 'accepted', 'rejected' (the engine can never serve it: `error` says why,
    `code` an HTTP status for it), 'tokens' (new `token_ids` since the last event) or
    'failed' (the engine broke). On the last event `finished` is true; a finished 'tokens'
    event also carries the whole output `text`, `finish_reason` ('pause' when the request
    waits for a tool) and the prompt (after a resume: context) and cached token counts.
    """

    kind: str
    index: int = 0
    token_ids: list[int] = field(default_factory=list)
    finished: bool = False
    finish_reason: str | None = None
    text: str = ""
    num_prompt_tokens: int = 0
    num_cached_tokens: int = 0
    error: str = ""
    code: int = 400


@dataclass(slots=True)
class _Slot:
    """Where a request's events go."""

    loop: asyncio.AbstractEventLoop
    queue: asyncio.Queue
    index: int
    num_sent: int = 0
    counts_hit: bool = True  # a resumed segment's context is not a new prompt


@dataclass(slots=True)
class _Counters:
    """Cumulative counts since start, plus the hit window of recently started requests."""

    window: deque = field(default_factory=lambda: deque(maxlen=256))
    num_finished: int = 0
    num_failed: int = 0
    num_aborted: int = 0
    prompt_tokens: int = 0
    prefix_hit_tokens: int = 0
    generation_tokens: int = 0
    num_preemptions: int = 0


class AsyncLLMEngine:
    """Runs `engine` on a daemon thread, started by `start()` or by the first `submit`."""

    def __init__(self, engine: LLMEngine, hit_window: int = 256, idle_wait_s: float = 0.5) -> None:
        self.engine = engine
        self.idle_wait_s = idle_wait_s
        self._commands: queue.SimpleQueue = queue.SimpleQueue()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._slots: dict[str, _Slot] = {}
        self._counters = _Counters(window=deque(maxlen=hit_window))
        self._thread: threading.Thread | None = None
        self._start_lock = threading.Lock()
        self._started_s = time.time()
        self._snapshot: dict[str, Any] = {}
        self._publish()

    # -- lifecycle ---------------------------------------------------------------------
    def start(self) -> None:
        """Start the stepping thread (idempotent)."""
        with self._start_lock:
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, daemon=True,
                                                name=f"engine-{self.engine.config.engine_id}")
                self._thread.start()

    def stop(self, timeout_s: float = 5.0) -> None:
        """Stop the thread; requests still in flight get a 'failed' event."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout_s)
        self._fail_all("server shutting down")

    @property
    def alive(self) -> bool:
        """False once the thread has died or been stopped."""
        return not self._stop.is_set() and (self._thread is None or self._thread.is_alive())

    # -- called from asyncio -----------------------------------------------------------
    def submit(self, request_id: str, prompt_ids: list[int], params: SamplingParams,
               out: asyncio.Queue, index: int = 0, pause_after: tuple[int, ...] = (),
               problem: Any = None) -> None:
        """Queue a request; its events go to `out` on the running event loop (`problem`:
        its key for speculation)."""
        self._command("add", request_id, out, index, prompt_ids, params, pause_after, problem)

    def resume(self, request_id: str, token_ids: list[int], out: asyncio.Queue,
               index: int = 0) -> None:
        """Resume a paused request with its tool's tokens; the continuation's events go to
        `out` ('rejected' with a `code` if it cannot be resumed)."""
        self._command("resume", request_id, out, index, token_ids)

    def _command(self, kind: str, rid: str, out: asyncio.Queue, index: int, *args: Any) -> None:
        self.start()
        self._commands.put((kind, rid, _Slot(asyncio.get_running_loop(), out, index), *args))
        self._wake.set()

    def abort(self, request_id: str) -> None:
        """Drop a request (no-op if it has finished); no further events are sent."""
        self._commands.put(("abort", request_id))
        self._wake.set()

    def metrics(self) -> dict[str, Any]:
        """The latest statistics the thread published (a fresh dict)."""
        snap = dict(self._snapshot)
        snap["alive"] = self.alive
        return snap

    # -- the thread --------------------------------------------------------------------
    def _run(self) -> None:
        try:
            while not self._stop.is_set():
                self._wake.clear()
                self._drain_commands()
                if not self.engine.has_unfinished():
                    self._expire_paused()
                    self._publish()
                    self._wake.wait(self.idle_wait_s)
                    continue
                self._step_once()
        except Exception:
            log.exception("engine thread crashed")
        finally:
            self._stop.set()
            self._fail_all("the engine thread stopped")

    def _step_once(self) -> None:
        try:
            outputs = self.engine.step()
        except Exception as exc:  # noqa: BLE001 - report to every client, keep serving
            log.exception("engine step failed")
            self._fail_all(f"engine step failed: {exc!r}")
            return
        events = self._events(outputs)
        self._collect_records()
        self._publish()  # before the events: a client that sees its request end sees its metrics
        self._send(events)

    def _drain_commands(self) -> None:
        while True:
            try:
                cmd = self._commands.get_nowait()
            except queue.Empty:
                return
            if cmd[0] == "add":
                self._add(*cmd[1:])
            elif cmd[0] == "resume":
                self._resume(*cmd[1:])
            elif self._slots.pop(cmd[1], None) is not None:
                self.engine.abort_request(cmd[1])
                self._collect_records()

    def _add(self, rid: str, slot: _Slot, prompt_ids: list[int], params: SamplingParams,
             pause_after: tuple[int, ...], problem: Any = None) -> None:
        try:
            self.engine.add_request(prompt_ids, params, request_id=rid, pause_after=pause_after,
                                    problem=problem)
        except Exception as exc:  # noqa: BLE001 - ValueError: a bad request; else a failure
            event = (_rejected(slot, str(exc)) if isinstance(exc, ValueError) else
                     EngineEvent("failed", slot.index, finished=True, error=repr(exc)))
            self._send({slot.loop: [(slot.queue, event)]})
            return
        record = self.engine.records[rid]
        if record.failed:
            self._send({slot.loop: [(slot.queue, _rejected(slot, record.error))]})
            self._collect_records()
            return
        self._slots[rid] = slot
        self._send({slot.loop: [(slot.queue, EngineEvent("accepted", slot.index))]})

    def _resume(self, rid: str, slot: _Slot, token_ids: list[int]) -> None:
        try:
            self.engine.resume(rid, token_ids)
        except ResumeError as exc:
            event = _rejected(slot, str(exc), _RESUME_CODES.get(exc.reason, 400))
            self._send({slot.loop: [(slot.queue, event)]})
            return
        slot.counts_hit = False
        self._slots[rid] = slot
        self._send({slot.loop: [(slot.queue, EngineEvent("accepted", slot.index))]})

    def _expire_paused(self) -> None:
        if self.engine.num_paused and self.engine.expire_paused():
            self._collect_records()

    def _events(self, outputs: list[RequestOutput]) -> dict[asyncio.AbstractEventLoop, list]:
        """The clients' events of one step, by event loop (sent by the caller)."""
        batches: dict[asyncio.AbstractEventLoop, list[tuple[asyncio.Queue, EngineEvent]]] = {}
        for out in outputs:
            slot = self._slots.get(out.request_id)
            if slot is None:
                continue
            comp = out.outputs[0]
            new = comp.token_ids[slot.num_sent:]
            if slot.num_sent == 0 and new and slot.counts_hit:
                self._counters.window.append((len(out.prompt_token_ids), out.num_cached_tokens))
            slot.num_sent += len(new)
            event = EngineEvent("tokens", slot.index, list(new))
            if out.finished or out.paused:
                event.finished, event.finish_reason, event.text = True, comp.finish_reason, comp.text
                event.num_prompt_tokens = len(out.prompt_token_ids)
                event.num_cached_tokens = out.num_cached_tokens
                del self._slots[out.request_id]
            batches.setdefault(slot.loop, []).append((slot.queue, event))
        return batches

    def _send(self, batches: dict[asyncio.AbstractEventLoop, list]) -> None:
        for loop, items in batches.items():
            try:
                loop.call_soon_threadsafe(_put_all, items)
            except RuntimeError:  # the loop is closed: nobody is listening
                log.warning("dropping %d events for a closed event loop", len(items))

    def _fail_all(self, reason: str) -> None:
        """Send 'failed' to every request in flight or still queued, and abort them."""
        slots, self._slots = self._slots, {}
        batches: dict[asyncio.AbstractEventLoop, list] = {}
        while True:
            try:
                cmd = self._commands.get_nowait()
            except queue.Empty:
                break
            if cmd[0] in ("add", "resume"):
                slot = cmd[2]
                event = EngineEvent("failed", slot.index, finished=True, error=reason)
                batches.setdefault(slot.loop, []).append((slot.queue, event))
        for rid, slot in slots.items():
            try:
                self.engine.abort_request(rid)
            except Exception:  # noqa: BLE001 - the engine may be broken; tell the client anyway
                log.exception("abort of %s failed", rid)
            event = EngineEvent("failed", slot.index, finished=True, error=reason)
            batches.setdefault(slot.loop, []).append((slot.queue, event))
        self._send(batches)
        self._collect_records()

    def _collect_records(self) -> None:
        c = self._counters
        for rec in self.engine.take_records():
            if rec.failed:
                if rec.error == "aborted":
                    c.num_aborted += 1
                else:
                    c.num_failed += 1
                continue
            c.num_finished += 1
            c.prompt_tokens += rec.num_prompt_tokens
            c.prefix_hit_tokens += rec.num_cached_tokens
            c.generation_tokens += rec.num_output_tokens
            c.num_preemptions += rec.num_preemptions

    def _publish(self) -> None:
        s = self.engine.stats()
        c = self._counters
        win_prompt = sum(p for p, _ in c.window)
        self._snapshot = {
            "engine_id": s.engine_id, "num_running": s.num_running,
            "num_waiting": s.num_waiting, "num_waiting_tokens": s.num_waiting_tokens,
            "kv_used_tokens": s.kv_used_tokens, "kv_capacity_tokens": s.kv_capacity_tokens,
            "window_hit_ratio": sum(h for _, h in c.window) / win_prompt if win_prompt else 0.0,
            "hit_window_requests": len(c.window),
            "prompt_tokens": c.prompt_tokens, "prefix_hit_tokens": c.prefix_hit_tokens,
            "hit_ratio": c.prefix_hit_tokens / c.prompt_tokens if c.prompt_tokens else 0.0,
            "generation_tokens": c.generation_tokens, "num_preemptions": c.num_preemptions,
            "num_requests_finished": c.num_finished, "num_requests_failed": c.num_failed,
            "num_requests_aborted": c.num_aborted,
            "num_inflight": len(self._slots), "num_paused": self.engine.num_paused,
            "num_steps": self.engine.num_steps,
            "uptime_s": time.time() - self._started_s,
        }


_RESUME_CODES = {"unknown": 404, "not_paused": 409, "invalid": 400}


def _rejected(slot: _Slot, reason: str, code: int = 400) -> EngineEvent:
    return EngineEvent("rejected", slot.index, finished=True, error=reason or "rejected",
                       code=code)


def _put_all(items: list[tuple[asyncio.Queue, EngineEvent]]) -> None:
    for q, event in items:
        q.put_nowait(event)
