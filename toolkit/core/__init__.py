"""Core data types shared by every layer: requests, traces and per-request records."""

from toolkit.core.errors import ConfigError, TraceFormatError
from toolkit.core.record import RequestRecord, records_to_frame
from toolkit.core.request import Request, Segment
from toolkit.core.trace import Trace

__all__ = [
    "ConfigError",
    "Request",
    "RequestRecord",
    "Segment",
    "Trace",
    "TraceFormatError",
    "records_to_frame",
]
