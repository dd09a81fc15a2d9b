"""What comes in: the Scrapy project that crawls the IOM site family."""
