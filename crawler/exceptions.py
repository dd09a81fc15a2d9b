"""Errors of the crawler package.

CrawlerError
├── SitesFileError       the sites registry cannot be used (names file, entry, key)
├── StoreError           the store cannot be opened or migrated
│   └── StoreBusyError   a write still met a locked database after every retry (names the op)
└── CleanInputError      `iomwatch clean` got an unusable file (names the file)
"""

from __future__ import annotations


class CrawlerError(Exception):
    """Base class of the crawler's own errors."""


class SitesFileError(CrawlerError):
    """A sites file is missing, not TOML, or has a bad entry."""


class StoreError(CrawlerError):
    """The release store cannot be opened or migrated."""


class StoreBusyError(StoreError):
    """Another connection held the database locked past the busy timeout and every retry."""


class CleanInputError(CrawlerError):
    """A file given to the boilerplate cleaner is empty, binary or undecodable."""
