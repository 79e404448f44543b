"""Metrics over per-request records: latency, TTFT, TPOT, normalized latency, throughput."""

from toolkit.metrics.summary import add_derived_columns, summarize

__all__ = ["add_derived_columns", "summarize"]
