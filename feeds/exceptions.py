"""Errors of the feeds package.

FeedsError
└── BadQueryError        a request parameter is unknown or has a bad value (names it; HTTP 400)
"""

from __future__ import annotations


class FeedsError(Exception):
    """Base class of the feeds package's own errors."""


class BadQueryError(FeedsError, ValueError):
    """A query-string parameter is unknown, repeated where it may not be, or has a bad value."""

    def __init__(self, parameter: str, message: str) -> None:
        super().__init__(f"parameter {parameter!r}: {message}")
        self.parameter = parameter
        self.message = message
