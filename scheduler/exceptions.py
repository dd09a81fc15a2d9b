"""Errors of the service layer.

SchedulerError
└── ConfigError          invalid or unknown configuration (names the key and the source)
    └── RoleError        a role that cannot run on this configuration (names role and database)
"""

from __future__ import annotations


class SchedulerError(Exception):
    """Base class of the service's own errors."""


class ConfigError(SchedulerError):
    """The configuration cannot be used; the message names the file, section and key."""


class RoleError(ConfigError):
    """A role of a scaled-out deployment asked of a store it cannot share (SQLite)."""
