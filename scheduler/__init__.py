"""When things happen: the APScheduler service, `iomwatch run` and the command line."""
