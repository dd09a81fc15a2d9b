"""`iomwatch clean [--out DIR] FILE...`: boilerplate removal on saved pages, HTML or text.

Files given together are one corpus; files in the same directory are one site (they learn
from each other), and the other directories are its family (text labels they share count
as chrome on this site's pages too, `text.Family`). A text file's output is its kept lines, verbatim, in order, with the
input's own line terminators (no newline added at the end when the input had none); an
HTML file's output is its clean text. Output goes to ``DIR/<file name>`` or stdout.

Unusable files (missing, empty, binary, undecodable or mixed encodings) are reported on
stderr by name and skipped; the exit code is then 1, else 0.

With ``--out``, an output that would overwrite another output (two inputs of one name), an
input (``--out`` is an input's directory), or anything but a regular file (a symbolic link,
a directory) is refused before anything is written: each is named, and the exit code is 2.
"""

from __future__ import annotations

import codecs
import logging
import os
import re
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from charset_normalizer import from_bytes

from crawler.boilerplate import SiteTemplate, clean_text_corpus, extract_html, learn_html
from crawler.boilerplate.single import extract_article
from crawler.boilerplate.text import Family
from crawler.exceptions import CleanInputError

if TYPE_CHECKING:
    from typing import TextIO

logger = logging.getLogger(__name__)

HTML_SNIFF = re.compile(rb"<(?:!doctype\s+html|html|head|body)[\s>]", re.IGNORECASE)
HTML_SUFFIXES = frozenset({".html", ".htm", ".xhtml"})
TAG = re.compile(rb"<[a-zA-Z][^<>]{0,200}>")
SNIFF_BYTES = 4096
BINARY_CONTROL_SHARE = 0.05  # share of control bytes that makes a file binary
CONTROL_BYTES = frozenset(range(0, 32)) - {9, 10, 12, 13}


@dataclass(frozen=True)
class InputDoc:
    """One decoded input file."""

    path: Path
    text: str
    encoding: str
    bom: bytes
    is_html: bool


def _is_binary(data: bytes) -> bool:
    head = data[:SNIFF_BYTES]
    if b"\x00" in head:
        return True
    return sum(b in CONTROL_BYTES for b in head) > BINARY_CONTROL_SHARE * len(head)


def _decode(path: Path, data: bytes) -> tuple[str, str, bytes]:
    """Text, encoding name and BOM; UTF-8 first, else a detected encoding; mixed is an error."""
    bom = codecs.BOM_UTF8 if data.startswith(codecs.BOM_UTF8) else b""
    body = data[len(bom) :]
    try:
        return body.decode("utf-8"), "utf-8", bom
    except UnicodeDecodeError:
        pass
    lenient = body.decode("utf-8", errors="replace")
    if any(ord(ch) > 127 and ch != "\ufffd" for ch in lenient):
        raise CleanInputError(f"{path}: mixed encodings (valid UTF-8 next to non-UTF-8 bytes)")
    best = from_bytes(body).best()
    if best is None or best.encoding is None:
        raise CleanInputError(f"{path}: cannot detect the text encoding")
    return str(best), best.encoding, b""


def read_input(path: Path) -> InputDoc:
    """Read and decode one file, or raise CleanInputError naming it."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise CleanInputError(f"{path}: cannot read ({exc.strerror or exc})") from exc
    if not data.strip():
        raise CleanInputError(f"{path}: empty file")
    if _is_binary(data):
        raise CleanInputError(f"{path}: binary file, not HTML or text")
    text, encoding, bom = _decode(path, data)
    head = data[:SNIFF_BYTES].lstrip()
    is_html = bool(HTML_SNIFF.search(head)) or (
        path.suffix.lower() in HTML_SUFFIXES and len(TAG.findall(head)) >= 2
    )
    return InputDoc(path, text, encoding, bom, is_html)


def clean_site(docs: list[InputDoc], family: Family | None = None) -> list[str]:
    """Outputs for the documents of one site, in order (`family`: the other sites' labels)."""
    texts = [d for d in docs if not d.is_html]
    pages = [d for d in docs if d.is_html]
    cleaned = clean_text_corpus([d.text for d in texts], family)
    out: dict[Path, str] = dict(zip((d.path for d in texts), cleaned, strict=True))
    if len(pages) == 1:  # one page, no history: its own structure is all there is
        alone = extract_article(pages[0].text, pages[0].path.resolve().as_uri())
        out[pages[0].path] = alone.text + "\n" if alone.text else ""
        pages = []
    template = SiteTemplate()
    for page in pages:
        learn_html(template, page.text, url=page.path.resolve().as_uri())
    for page in pages:
        clean = extract_html(page.text, template, url=page.path.resolve().as_uri())
        out[page.path] = clean.text + "\n" if clean.text else ""
    return [out[d.path] for d in docs]


def output_conflicts(docs: list[InputDoc], out_dir: Path, inputs: list[Path]) -> list[str]:
    """Why writing `DIR/<name>` for these documents would lose a file, one line per output."""
    problems = []
    claimed: dict[str, Path] = {}
    sources = {_identity(p): p for p in inputs if p.exists()}  # same file by any path or link
    for doc in docs:
        target = out_dir / doc.path.name
        if doc.path.name in claimed:
            first = claimed[doc.path.name]
            problems.append(f"{first} and {doc.path} would both be written to {target}")
            continue
        claimed[doc.path.name] = doc.path
        if target.is_symlink():
            problems.append(f"{target}: is a symbolic link; not writing through it")
        elif not target.exists():
            continue
        elif not target.is_file():
            problems.append(f"{target}: exists and is not a regular file")
        elif _identity(target) in sources:
            problems.append(f"{target}: would overwrite the input {sources[_identity(target)]}")
    return problems


def _identity(path: Path) -> tuple[int, int]:
    stat = path.stat()
    return stat.st_dev, stat.st_ino


def _write_file(target: Path, data: bytes) -> None:
    """Write without following a symbolic link that appeared since the check (O_NOFOLLOW)."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW | os.O_CLOEXEC
    fd = os.open(target, flags, 0o644)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)


def _write(doc: InputDoc, result: str, out_dir: Path | None, stdout: TextIO, many: bool) -> None:
    if out_dir is None:
        if many:
            stdout.write(f"==> {doc.path} <==\n")
        stdout.write(result)
        if many and result and not result.endswith("\n"):
            stdout.write("\n")
        return
    encoding = "utf-8" if doc.is_html else doc.encoding
    data = (b"" if doc.is_html else doc.bom) + result.encode(encoding, errors="replace")
    _write_file(out_dir / doc.path.name, data)


def run_clean(paths: list[Path], out_dir: Path | None, stdout: TextIO, stderr: TextIO) -> int:
    """The `iomwatch clean` command; returns the exit code."""
    if not paths:
        stderr.write("iomwatch clean: no input files\n")
        return 2
    sites: dict[Path, list[InputDoc]] = defaultdict(list)
    failed = False
    for path in paths:
        try:
            doc = read_input(path)
        except CleanInputError as exc:
            stderr.write(f"iomwatch clean: {exc}\n")
            failed = True
            continue
        sites[path.resolve().parent].append(doc)
    if out_dir is not None:
        docs = [doc for site in sites.values() for doc in site]
        problems = output_conflicts(docs, out_dir, paths)
        for problem in problems:
            stderr.write(f"iomwatch clean: {problem}\n")
        if problems:
            return 2
        try:
            out_dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            stderr.write(f"iomwatch clean: cannot create output directory {out_dir}: {exc}\n")
            return 2
    return _clean_all(sites, out_dir, stdout, stderr, many=len(paths) > 1) or int(failed)


def _clean_all(
    sites: dict[Path, list[InputDoc]],
    out_dir: Path | None,
    stdout: TextIO,
    stderr: TextIO,
    *,
    many: bool,
) -> int:
    """Clean and write every site; a file that cannot be written is named (exit code 1)."""
    failed = 0
    for site, docs in sites.items():
        others = [[d.text for d in ds if not d.is_html] for s, ds in sites.items() if s != site]
        family = Family(others) if others else None
        for doc, result in zip(docs, clean_site(docs, family), strict=True):
            try:
                _write(doc, result, out_dir, stdout, many)
            except OSError as exc:
                target = out_dir / doc.path.name if out_dir else doc.path
                stderr.write(f"iomwatch clean: {target}: cannot write ({exc.strerror or exc})\n")
                failed = 1
    return failed
