"""`ReplicaServer`: the replica IOM sites, each on its own 127.0.0.1 port, in daemon threads."""

from __future__ import annotations

import json
import random
import threading
from collections.abc import Iterable, Sequence
from datetime import date
from pathlib import Path
from types import TracebackType
from urllib.parse import unquote, urlsplit

from replica.content import SEED, assign_path
from replica.faults import FAULTS
from replica.generate import assemble, make_facts
from replica.handler import SiteHTTPServer
from replica.model import RELEASE_TYPES, ReplicaRelease, RequestRecord, Version
from replica.sites import SITES
from replica.state import SiteState

UPDATE_NOTE = {
    "en": "This release was updated on {day} to correct the number of people assisted.",
    "fr": "Ce communiqué a été mis à jour le {day} pour corriger le nombre de personnes assistées.",
    "es": "Este comunicado fue actualizado el {day} para corregir el número de personas asistidas.",
    "pt-br": "Este comunicado foi atualizado em {day} para corrigir o número de pessoas atendidas.",
    "ar": "تم تحديث هذا البيان في {day} لتصحيح عدد الأشخاص الذين تلقوا المساعدة.",
}


class ReplicaServer:
    """Local replicas of IOM sites with deterministic content, faults and a request log."""

    def __init__(
        self,
        sites: Sequence[str] | None = None,
        *,
        seed: int = SEED,
        port_base: int | None = None,
        host: str = "127.0.0.1",
    ) -> None:
        unknown = set(sites or ()) - {p.id for p in SITES}
        if unknown:
            raise ValueError(f"unknown replica site(s): {', '.join(sorted(unknown))}")
        self._states = {
            p.id: SiteState.create(p, seed) for p in SITES if not sites or p.id in sites
        }
        self._host = host
        self._port_base = port_base
        self._servers: dict[str, SiteHTTPServer] = {}
        self._threads: list[threading.Thread] = []
        self._log: list[RequestRecord] = []
        self._log_lock = threading.Lock()
        self._lifecycle = threading.Lock()
        self.stop_event = threading.Event()

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self) -> ReplicaServer:
        """Bind every site to its own port and serve it in a daemon thread (idempotent)."""
        with self._lifecycle:
            if self._servers:
                return self
            self.stop_event.clear()
            for index, (site_id, state) in enumerate(self._states.items()):
                port = self._port_base + index if self._port_base else 0
                server = SiteHTTPServer((self._host, port), state, self)
                state.base_url = f"http://{self._host}:{server.server_port}"
                state.changed()
                thread = threading.Thread(
                    target=server.serve_forever,
                    kwargs={"poll_interval": 0.1},
                    name=f"replica-{site_id}-serve",
                    daemon=True,
                )
                thread.start()
                self._servers[site_id] = server
                self._threads.append(thread)
        return self

    def stop(self) -> None:
        """Stop serving; waits for every server and connection thread to end."""
        with self._lifecycle:
            self.stop_event.set()
            for server in self._servers.values():
                server.shutdown()
                server.close_connections()
                server.server_close()
            for thread in self._threads:
                thread.join(5.0)
            self._servers.clear()
            self._threads.clear()

    def __enter__(self) -> ReplicaServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # -- sites --------------------------------------------------------------------------------

    @property
    def site_ids(self) -> list[str]:
        return list(self._states)

    def base_url(self, site_id: str) -> str:
        """`http://127.0.0.1:PORT` of a started site."""
        state = self._state(site_id)
        if not state.base_url:
            raise RuntimeError("replica: start() the server before asking for URLs")
        return state.base_url

    def languages(self, site_id: str) -> list[str]:
        """The site's languages; the first is the language of unprefixed paths."""
        return list(self._state(site_id).profile.languages)

    def listing_paths(self, site_id: str) -> list[str]:
        """The news listing path of each language (`/news`, `/en/news`...)."""
        state = self._state(site_id)
        return [state.listing_path(lang) for lang in state.profile.languages]

    def sites_toml(self) -> str:
        """A sites file (the `[[site]]` format of the registry) for the running replica."""
        chunks = []
        for site_id, state in self._states.items():
            p = state.profile
            lines = [
                "[[site]]",
                f"id = {_toml(site_id)}",
                f"name = {_toml(p.name[p.languages[0]])}",
            ]
            lines.append(f"base_url = {_toml(self.base_url(site_id))}")
            if p.country:
                lines.append(f"country = {_toml(p.country)}")
            if p.region:
                lines.append(f"region = {_toml(p.region)}")
            lines.append(f"languages = {_toml_list(p.languages)}")
            lines.append(
                f"news_paths = {_toml_list(state.listing_path(lang) for lang in p.languages)}"
            )
            chunks.append("\n".join(lines) + "\n")
        return "\n".join(chunks)

    def write_sites_file(self, path: str | Path) -> Path:
        target = Path(path)
        target.write_text(self.sites_toml(), encoding="utf-8")
        return target

    # -- ground truth and changes -------------------------------------------------------------

    def releases(self, site_id: str | None = None) -> list[ReplicaRelease]:
        """Every release published now (one per language version), newest first per site."""
        states = [self._state(site_id)] if site_id else list(self._states.values())
        out: list[ReplicaRelease] = []
        for state in states:
            with state.lock:
                for lang in state.profile.languages:
                    out.extend(state.release(v) for v in state.by_lang(lang))
        return out

    def publish(
        self,
        site_id: str,
        *,
        lang: str | None = None,
        title: str | None = None,
        body: str | Sequence[str] | None = None,
        type: str = "press_release",
    ) -> ReplicaRelease:
        """Publish a new release dated today at the top of that language's listing."""
        state = self._state(site_id)
        profile = state.profile
        lang = lang or profile.languages[0]
        if lang not in profile.languages or type not in RELEASE_TYPES:
            raise ValueError(f"replica {site_id}: cannot publish type={type!r} in lang={lang!r}")
        with state.lock:
            node_id = max(v.node_id for v in state.versions) + 7
            facts = make_facts(random.Random(f"publish:{site_id}:{node_id}"), profile, type)
            paras = _paragraphs(body) if body is not None else None
            version = assemble(
                profile, node_id, lang, type, date.today(), facts, body=paras, title=title
            )
            version.seeded = False
            version.modified = state.bump_time(state.listing_modified(lang))
            assign_path(profile, version, {unquote(v.path) for v in state.versions})
            state.versions.append(version)
            state.listing_time[lang] = version.modified
            state.changed()
            return state.release(version)

    def edit(
        self,
        release_url: str,
        body: str | Sequence[str] | None = None,
        *,
        title: str | None = None,
    ) -> ReplicaRelease:
        """Materially edit a release: new body (dateline and contact kept) and/or title."""
        state, version = self._find(release_url)
        with state.lock:
            if body is None:
                note = UPDATE_NOTE.get(version.lang, UPDATE_NOTE["en"]).format(
                    day=date.today().isoformat()
                )
                paras = [*version.paragraphs[:-1], note]
            else:
                paras = _paragraphs(body)
                if version.dateline and paras:
                    paras[0] = f"{version.dateline}{version.dateline_sep}{paras[0]}"
            version.paragraphs = [*paras, version.paragraphs[-1]]
            if title is not None and version.title is not None:
                version.title = title
            version.modified = state.bump_time(version.modified)
            state.changed()
            return state.release(version)

    def touch_noise(self, site_id: str) -> None:
        """Change only noise on every page: view counts, related news, asset query strings."""
        state = self._state(site_id)
        with state.lock:
            state.noise += 1
            state.noise_time = state.bump_time(
                max(state.noise_time, *state.listing_time.values(), 0.0)
            )
            state.changed()

    # -- faults -------------------------------------------------------------------------------

    def set_fault(self, site_id: str, path_prefix: str, fault: str) -> None:
        """Make every request whose path (with query) starts with `path_prefix` show `fault`."""
        if fault not in FAULTS:
            raise ValueError(f"unknown fault {fault!r}; known: {', '.join(sorted(FAULTS))}")
        state = self._state(site_id)
        with state.lock:
            state.faults = [(p, f) for p, f in state.faults if p != path_prefix]
            state.faults.append((path_prefix, fault))

    def clear_faults(self, site_id: str | None = None) -> None:
        """Remove the faults of one site (all sites without an id) and bring them back up."""
        for state in [self._state(site_id)] if site_id else self._states.values():
            with state.lock:
                state.faults = []
                state.down = False

    def set_down(self, site_id: str, down: bool = True) -> None:
        """While down, every request on the site gets 503."""
        state = self._state(site_id)
        with state.lock:
            state.down = down

    # -- request log --------------------------------------------------------------------------

    @property
    def requests(self) -> list[RequestRecord]:
        with self._log_lock:
            return list(self._log)

    def reset_log(self) -> None:
        with self._log_lock:
            self._log.clear()

    def log_request(self, record: RequestRecord) -> None:
        with self._log_lock:
            self._log.append(record)

    # -- helpers ------------------------------------------------------------------------------

    def _state(self, site_id: str | None) -> SiteState:
        if site_id not in self._states:
            raise KeyError(f"unknown replica site {site_id!r}")
        return self._states[site_id]

    def _find(self, url: str) -> tuple[SiteState, Version]:
        parts = urlsplit(url)
        for state in self._states.values():
            if state.base_url and url.startswith(state.base_url):
                version = state.find_path(parts.path)
                if version is not None:
                    return state, version
        raise KeyError(f"no replica release at {url}")


def _paragraphs(body: str | Sequence[str]) -> list[str]:
    """A body given as text (paragraphs separated by blank lines) or as a list of paragraphs."""
    if isinstance(body, str):
        return [" ".join(p.split()) for p in body.split("\n\n") if p.strip()]
    return [" ".join(p.split()) for p in body if p.strip()]


def _toml(value: str) -> str:
    return json.dumps(value, ensure_ascii=False)


def _toml_list(values: Iterable[str]) -> str:
    return "[" + ", ".join(_toml(v) for v in values) + "]"
