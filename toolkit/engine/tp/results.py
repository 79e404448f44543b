"""What the tensor-parallel engine returns: per-step outputs, switch and migration timings."""

from __future__ import annotations

from typing import NamedTuple


class StepOutput(NamedTuple):
    """The tokens one request got in one step (`finish_reason` None while it runs)."""

    request_id: str
    new_token_ids: list[int]
    finish_reason: str | None


class SwitchStats(NamedTuple):
    """One TP switch: stop-to-resume seconds (measured on rank 0, from the command to the
    point every rank holds its new KV heads), KV bytes sent between ranks, blocks re-split."""

    old_tp: int
    new_tp: int
    switch_s: float
    bytes_moved: int
    num_blocks: int


class MigrationStats(NamedTuple):
    """One request moved between instances: seconds from the source stopping it to the
    destination holding its KV, KV bytes sent, blocks and KV tokens moved."""

    request_id: str
    src_instance: int
    dst_instance: int
    migrate_s: float
    bytes_moved: int
    num_blocks: int
    num_tokens: int


class GenerateResult(NamedTuple):
    """`TPEngine.generate`: each prompt's output tokens and finish reason (prompt order),
    the switches made, each step's seconds and batch size (sequences), and the TP level of
    each step."""

    token_ids: list[list[int]]
    finish_reasons: list[str | None]
    switches: list[SwitchStats]
    step_s: list[float]
    step_batch: list[int]
    step_tp: list[int]
