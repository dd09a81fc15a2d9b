"""Pure parsers of IOM pages: one function per field, dates, datelines, listings, URLs."""
