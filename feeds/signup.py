"""The pure parts of the web sign-up (feeds.subscriptions): limits, input, words, token subjects.

Rate limits, per client (token buckets) and per address (mails in a window), live in the
process. The per-client buckets are only ever that: each web replica limits the clients it
serves, which bounds what one client can make one replica do. The per-address count is shared
through the store by `feeds.subscriptions` (every sign-up row of an address carries its creation
time, seen by every replica); `ResendLog` here only adds the re-sends of a pending sign-up,
which leave no trace in the store, so those are counted per replica. Both are touched only from
the event loop thread (async handlers), so they need no lock, and both forget their oldest
entries beyond `max_keys`: memory stays bounded whatever the traffic.

The pages' own words are data, in `templates/subscriptions.toml` (the buttons' words come from
feeds.alerts.words, the mails').
"""

from __future__ import annotations

import hashlib
import re
import time
import tomllib
from collections import OrderedDict, deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from importlib.resources import files
from typing import TYPE_CHECKING
from urllib.parse import parse_qsl

from crawler.store import FILTER_KEYS, ReleaseQuery
from feeds.alerts.exceptions import TokenError
from feeds.alerts.words import LANGUAGES
from feeds.catalog import LANGUAGE_NAMES
from feeds.entries import RTL_LANGUAGES

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable

    from starlette.requests import Request

    from crawler.store import Subscriber

MAX_FORM_BYTES = 8192  # an e-mail address and a filter; anything longer was not our form
MAX_FORM_FIELDS = 200
FORM_TYPE = "application/x-www-form-urlencoded"
MAX_EMAIL_CHARS = 254  # RFC 5321's path limit, less the angle brackets
FINGERPRINT_CHARS = 16
SHOWN_CHARS = 120  # of a refused address, echoed back (escaped) to name the problem
_LOCAL = r"[^\s@<>()\[\]\\,;:\"\x00-\x1f\x7f]{1,64}"
_LABEL = r"[^\W_](?:[\w-]{0,61}[^\W_])?"
EMAIL = re.compile(rf"{_LOCAL}@(?:{_LABEL}\.)+{_LABEL}")


@dataclass(frozen=True)
class SignupLimits:
    """How many sign-ups one client, and confirmation mails one address, may get."""

    mails_per_address: int = 3  # confirmation mails to one address ...
    address_window: float = 3600.0  # ... in this many seconds
    client_burst: int = 10  # sign-up requests one client may make at once ...
    client_refill: float = 360.0  # ... then one more every this many seconds (10 an hour)
    max_keys: int = 10_000  # clients and addresses remembered (the least recent are forgotten)

    def __post_init__(self) -> None:
        if min(self.mails_per_address, self.client_burst, self.max_keys) < 1:
            raise ValueError(f"sign-up limits must allow at least one: {self!r}")
        if self.address_window <= 0 or self.client_refill <= 0:
            raise ValueError(f"sign-up limit periods must be positive: {self!r}")


class ClientBuckets:
    """One token bucket per client: `burst` requests at once, then one per `refill` seconds."""

    def __init__(self, limits: SignupLimits, clock: Callable[[], float] = time.monotonic) -> None:
        self.limits = limits
        self._clock = clock
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()  # tokens, when

    def take(self, client: str) -> float:
        """0 when `client` may go on (one token spent); else the seconds until it may."""
        burst, refill = self.limits.client_burst, self.limits.client_refill
        now = self._clock()
        tokens, stamp = self._buckets.pop(client, (float(burst), now))
        tokens = min(float(burst), tokens + (now - stamp) / refill)
        allowed = tokens >= 1
        self._buckets[client] = (tokens - 1 if allowed else tokens, now)
        # a forgotten client starts again with a full bucket: only the least recent go
        while len(self._buckets) > self.limits.max_keys:
            self._buckets.popitem(last=False)
        return 0.0 if allowed else (1 - tokens) * refill


class ResendLog:
    """When this process re-sent a pending sign-up's confirmation mail, per address."""

    def __init__(self, limits: SignupLimits) -> None:
        self.limits = limits
        self._sent: OrderedDict[str, deque[datetime]] = OrderedDict()

    def recent(self, address: str, now: datetime) -> list[datetime]:
        since = now - timedelta(seconds=self.limits.address_window)
        return [at for at in self._sent.get(address, ()) if at > since]

    def record(self, address: str, at: datetime) -> None:
        times = self._sent.pop(address, None) or deque(maxlen=self.limits.mails_per_address)
        times.append(at)
        self._sent[address] = times
        while len(self._sent) > self.limits.max_keys:
            self._sent.popitem(last=False)


def address_wait(limits: SignupLimits, mails: Iterable[datetime], now: datetime) -> float:
    """0 when one more mail may go to an address that got `mails`; else the seconds to wait."""
    window = timedelta(seconds=limits.address_window)
    recent = sorted(at for at in mails if at > now - window)
    if len(recent) < limits.mails_per_address:
        return 0.0
    # the mail that must leave the window before another may be sent
    oldest = recent[-limits.mails_per_address]
    return max(1.0, (oldest + window - now).total_seconds())


def _load_words() -> dict[str, dict[str, str]]:
    text = files("feeds").joinpath("templates/subscriptions.toml").read_text(encoding="utf-8")
    table = tomllib.loads(text)
    for lang, texts in table.items():
        if missing := set(table["en"]) - set(texts):
            raise ValueError(f"subscriptions.toml [{lang}]: missing {', '.join(sorted(missing))}")
    return table


PAGE_WORDS: Mapping[str, Mapping[str, str]] = _load_words()


@dataclass(frozen=True)
class PageWords:
    """What a subscription page says, in one of the five languages."""

    lang: str

    @property
    def direction(self) -> str:
        return "rtl" if self.lang in RTL_LANGUAGES else "ltr"

    def say(self, key: str, **values: object) -> str:
        return PAGE_WORDS[self.lang][key].format(**values)


def page_language(preferred: Sequence[str], accept_language: str = "") -> PageWords:
    """The first of `preferred`, then of the browser's languages, that the pages speak; else en."""
    accepted = []
    for part in accept_language.split(",")[:20]:
        tag, _, weight = part.partition(";q=")
        try:
            accepted.append((-float(weight or 1), tag.strip()))
        except ValueError:
            continue
    for tag in [*preferred, *(tag for _, tag in sorted(accepted, key=lambda a: a[0]))]:
        primary = tag.strip().lower().replace("_", "-").split("-")[0]
        if primary in PAGE_WORDS:
            return PageWords(primary)
    return PageWords("en")


def alert_languages() -> list[tuple[str, str]]:
    """(code, name in itself) of the languages alerts come in, for the sign-up form: the names
    the index page shows too. (Babel's would load all five locales, ~10 MB, at the app's start
    and for the service's life, for five words.)"""
    return [(code, LANGUAGE_NAMES.get(code, code)) for code in LANGUAGES]


def check_email(value: str) -> str | None:
    """The address, stripped, when it looks like one we can mail (and put in a header)."""
    address = value.strip()
    if len(address) > MAX_EMAIL_CHARS or not EMAIL.fullmatch(address):
        return None
    return address


def canonical(query: ReleaseQuery) -> ReleaseQuery:
    """Values sorted within each key (OR within a key): one subscription, however ordered."""
    return ReleaseQuery(**{key: tuple(sorted(getattr(query, key))) for key in FILTER_KEYS})


async def read_form(request: Request) -> list[tuple[str, str]] | None:
    """The pairs of an urlencoded body ([] for another type); None when it is too large."""
    kind = request.headers.get("content-type", "").partition(";")[0].strip().lower()
    if kind != FORM_TYPE:
        return []  # a one-click POST may come as multipart: its token is in the query string
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_FORM_BYTES:
            return None
    try:
        return parse_qsl(body.decode("utf-8", "replace"), max_num_fields=MAX_FORM_FIELDS)
    except ValueError:  # more fields than max_num_fields
        return None


def fingerprint(subscriber: Subscriber) -> str:
    """What binds a confirmation token to one stored sign-up (its address and creation time)."""
    seed = f"{subscriber.email.casefold()}\n{subscriber.created_at.isoformat()}"
    return hashlib.sha256(seed.encode("utf-8")).hexdigest()[:FINGERPRINT_CHARS]


def confirm_subject(subscriber: Subscriber) -> str:
    return f"{subscriber.id}.{fingerprint(subscriber)}"


def subject_id(subject: str) -> tuple[int, str]:
    """(subscriber id, fingerprint or '') from a token subject; TokenError when malformed."""
    number, _, rest = subject.partition(".")
    if not (number.isascii() and number.isdigit() and len(number) <= 12):
        raise TokenError("malformed token subject")
    return int(number), rest
