"""What a long-lived process does not keep: Babel's locales (the territory snapshot is Babel's),
a copy of the cities gazetteer, Scrapy components that are off, Alembic on a migrated store.

Each check runs in a fresh interpreter: this one has imported everything already.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from crawler.parsing.territories import from_babel, territory_names
from crawler.store import Store
from replica import ReplicaServer
from tests.helpers import ROOT

RSS = """
def rss():
    from pathlib import Path
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
"""


def _python(code: str, *args: str) -> str:
    done = subprocess.run(
        [sys.executable, "-c", code, *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout.strip().splitlines()[-1]


def test_the_territory_snapshot_is_what_babel_says() -> None:
    """After a Babel upgrade: `python -m crawler.parsing.territories` rewrites it."""
    assert territory_names() == from_babel()


def test_country_tags_and_the_filter_vocabulary_load_no_babel_locale() -> None:
    code = (
        "import sys\nfrom crawler.parsing.countries import all_tags, release_countries\n"
        "assert 'Libya' in all_tags()\n"
        "assert release_countries('Migrants in Libya and Niger', '', 'Bamako', None)"
        " == ['Mali', 'Libya', 'Niger']\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] == 'babel'))"
    )
    assert _python(code) == "[]"


def test_a_city_lookup_keeps_no_copy_of_the_gazetteer() -> None:
    """The gazetteer is 16 MB of text: a lookup that read it into memory kept all of it."""
    code = RSS + (
        "import json\nfrom crawler.parsing.places import cities_named\nbefore = rss()\n"
        "assert {c.country for c in cities_named('Bamako')} == {'ML'}\n"
        "assert cities_named('Tripoli')\n"
        "print(round(rss() - before, 1))"
    )
    assert float(_python(code)) < 4


# The crawl path alone (crawler.worker's imports): the scheduler's would bring Babel for mails.
CRAWL = """
import json, sys
from crawler.run import crawl_sites
from crawler.settings import CrawlOptions, scrapy_settings
from crawler.sites import load_sites
options = CrawlOptions(download_delay=0, max_backfill_pages=10, download_timeout=3)
overrides = scrapy_settings(options, database_url=sys.argv[2])
runs = crawl_sites(load_sites(sys.argv[1]), overrides, log_level="ERROR")
off = ("aiohttp", "tldextract", "alembic", "babel", "twisted.conch", "scrapy.extensions.remote_control")
print(json.dumps({"runs": {s: r.status for s, r in runs.items()},
                  "new": sum(r.new for r in runs.values()),
                  "loaded": sorted({m for m in off if m in sys.modules})}))
"""


def test_a_crawl_loads_no_component_that_is_off_and_no_alembic(
    tmp_path: Path, sqlite_store: Store
) -> None:
    """Scrapy imports every component its lists name, enabled or not; the store is migrated
    (sqlite_store), so the crawl's own stores find it at head."""
    replica = ReplicaServer(sites=["southsudan"])
    replica.start()
    try:
        sites = replica.write_sites_file(tmp_path / "sites.toml")
        seen = json.loads(_python(CRAWL, str(sites), sqlite_store.url))
    finally:
        replica.stop()
    assert seen["runs"] == {"southsudan": "ok"}
    assert seen["new"] > 0  # releases parsed, tagged and stored: every pipeline ran
    assert seen["loaded"] == []
