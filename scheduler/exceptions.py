"""Errors of the service layer.

SchedulerError
├── ConfigError          invalid or unknown configuration (names the key and the source)
└── CrawlFailed          a crawl child process failed or timed out (names the site)
"""

from __future__ import annotations


class SchedulerError(Exception):
    """Base class of the service's own errors."""


class ConfigError(SchedulerError):
    """The configuration cannot be used; the message names the file, section and key."""


class CrawlFailed(SchedulerError):
    """A crawl of one site did not complete."""
