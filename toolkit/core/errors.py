"""Errors that name the file, line or option at fault."""

from __future__ import annotations


class TraceFormatError(ValueError):
    """A trace file has a malformed line; the message names the file and the line number."""

    def __init__(self, path: str, line_no: int, reason: str) -> None:
        super().__init__(f"{path}:{line_no}: {reason}")
        self.path = path
        self.line_no = line_no
        self.reason = reason


class ConfigError(ValueError):
    """A configuration option is unknown or invalid; the message names the option."""

    def __init__(self, option: str, reason: str) -> None:
        super().__init__(f"config option '{option}': {reason}")
        self.option = option
        self.reason = reason
