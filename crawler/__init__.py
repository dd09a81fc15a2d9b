"""What comes in: the Scrapy project that crawls the IOM site family."""

from __future__ import annotations

from importlib.metadata import version

__version__ = version("iomwatch")  # pyproject.toml is the one place the version is written
