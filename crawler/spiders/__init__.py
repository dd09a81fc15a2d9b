"""One spider for the IOM site family; sites are data (crawler/sites.py)."""
