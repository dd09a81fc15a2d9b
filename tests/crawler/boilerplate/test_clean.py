"""`iomwatch clean` through `run_clean`: corpora, output files, bad input."""

from __future__ import annotations

import io
import shutil
import subprocess
import sys
from pathlib import Path

from crawler.boilerplate.clean import run_clean
from crawler.boilerplate.single import extract_article

TEXT = Path(__file__).resolve().parents[2] / "fixtures" / "boilerplate" / "text"
HTML = Path(__file__).resolve().parents[2] / "fixtures" / "boilerplate" / "html"


def unlabelled(src: Path, dst: Path, newline: str = "\n", final: bool = False) -> tuple[str, str]:
    """Write the fixture without labels; return (input text, expected output)."""
    rows = [r.partition("|") for r in src.read_text(encoding="utf-8").split("\n") if r]
    text = newline.join(line for _, _, line in rows) + (newline if final else "")
    expected = newline.join(line for label, _, line in rows if label != "B")
    if final:
        expected += newline
    dst.write_bytes(text.encode("utf-8"))
    return text, expected


def clean(paths: list[Path], out: Path | None) -> tuple[int, str, str]:
    stdout, stderr = io.StringIO(), io.StringIO()
    code = run_clean(paths, out, stdout, stderr)
    return code, stdout.getvalue(), stderr.getvalue()


def test_one_directory_is_one_site(tmp_path: Path) -> None:
    site = tmp_path / "country-fr"
    site.mkdir()
    expected = {}
    for n, src in enumerate(sorted((TEXT / "country-fr").glob("*.txt"))):
        _, expected[src.name] = unlabelled(
            src, site / src.name, "\r\n" if n else "\n", final=n == 2
        )
    out = tmp_path / "out"
    code, _, err = clean(sorted(site.glob("*.txt")), out)
    assert code == 0, err
    for name, want in expected.items():
        assert (out / name).read_bytes() == want.encode("utf-8"), name


def test_stdout_without_out(tmp_path: Path) -> None:
    _, want = unlabelled(TEXT / "global-en" / "a1.txt", tmp_path / "a1.txt")
    code, out, _ = clean([tmp_path / "a1.txt"], None)
    assert code == 0
    assert out == want


def test_html_file_gives_clean_text(tmp_path: Path) -> None:
    for f in HTML.glob("niger-*.html"):
        shutil.copy(f, tmp_path / f.name)
    code, _, err = clean(sorted(tmp_path.glob("*.html")), tmp_path / "out")
    assert code == 0, err
    text = (tmp_path / "out" / "niger-2.html").read_text(encoding="utf-8")
    assert text.startswith("Niamey – Une campagne")
    assert "Qui sommes nous" not in text and "<p>" not in text


def test_a_lone_html_page_is_cleaned_by_its_own_structure(tmp_path: Path) -> None:
    """One page, no history: the one-page extractor (single.py), not an empty template."""
    shutil.copy(HTML / "niger-1.html", tmp_path / "niger-1.html")
    code, _, err = clean([tmp_path / "niger-1.html"], tmp_path / "out")
    assert code == 0, err
    text = (tmp_path / "out" / "niger-1.html").read_text(encoding="utf-8")
    alone = extract_article((HTML / "niger-1.html").read_text(encoding="utf-8"))
    assert alone.source != "empty" and text == alone.text + "\n"
    assert "Qui sommes nous" not in text and "<p>" not in text


def test_bad_inputs_are_named_and_skipped(tmp_path: Path) -> None:
    good = tmp_path / "good.txt"
    good.write_text(
        "A short release title here\nBody of the release in one full sentence.", encoding="utf-8"
    )
    empty = tmp_path / "empty.txt"
    empty.write_bytes(b"")
    binary = tmp_path / "image.txt"
    binary.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)))
    mixed = tmp_path / "mixed.txt"
    mixed.write_bytes(
        "Déjà vu en UTF-8\n".encode() + "et puis en Latin-1 : été\n".encode("latin-1")
    )
    missing = tmp_path / "missing.txt"
    code, _, err = clean([good, empty, binary, mixed, missing], tmp_path / "out")
    assert code == 1
    assert f"{empty}: empty file" in err
    assert f"{binary}: binary file" in err
    assert f"{mixed}: mixed encodings" in err
    assert f"{missing}: cannot read" in err
    assert (tmp_path / "out" / "good.txt").read_bytes() == good.read_bytes()


def test_legacy_encoding_round_trips(tmp_path: Path) -> None:
    src = tmp_path / "latin.txt"
    data = "Communiqué de presse sur la réintégration des migrants au Sénégal\nDakar – L'OIM a aidé 300 personnes à rentrer chez elles cette année, a-t-elle annoncé.\n"
    src.write_bytes(data.encode("cp1252"))
    code, _, err = clean([src], tmp_path / "out")
    assert code == 0, err
    assert (tmp_path / "out" / "latin.txt").read_bytes() == src.read_bytes()


def test_importable_from_a_fresh_interpreter(tmp_path: Path) -> None:
    src = tmp_path / "one.txt"
    src.write_text(
        "-\nWho We Are\nWHO WE AREThe organization is part of the United Nations system since 1951 and more words.\nAbout\nAbout\n- 2030 Agenda\nA title\nA body sentence that is the release itself.",
        encoding="utf-8",
    )
    code = "import sys, pathlib; from crawler.boilerplate.clean import run_clean; sys.exit(run_clean([pathlib.Path(sys.argv[1])], None, sys.stdout, sys.stderr))"
    proc = subprocess.run(
        [sys.executable, "-c", code, str(src)], capture_output=True, text=True, check=False
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "A title\nA body sentence that is the release itself."


# --- --out never loses a file: same-named outputs, its own input, symbolic links -------------

RELEASE = "A short release title here\nBody of the release in one full sentence.\n"


def test_same_named_inputs_are_refused_before_writing(tmp_path: Path) -> None:
    first, second = tmp_path / "a" / "x.txt", tmp_path / "b" / "x.txt"
    for path in (first, second):
        path.parent.mkdir()
        path.write_text(RELEASE, encoding="utf-8")
    out = tmp_path / "out"
    out.mkdir()
    (out / "x.txt").write_text("an earlier output", encoding="utf-8")
    code, _, err = clean([first, second], out)
    assert code == 2
    assert f"{first} and {second} would both be written to {out / 'x.txt'}" in err
    assert (out / "x.txt").read_text(encoding="utf-8") == "an earlier output"


def test_out_may_not_overwrite_an_input(tmp_path: Path) -> None:
    site = tmp_path / "site"
    site.mkdir()
    src = site / "a1.txt"
    unlabelled(TEXT / "global-en" / "a1.txt", src)
    before = src.read_bytes()
    code, _, err = clean([src], site)
    assert code == 2
    assert f"{src}: would overwrite the input {src}" in err
    assert src.read_bytes() == before


def test_out_may_not_overwrite_an_input_through_a_hard_link(tmp_path: Path) -> None:
    src = tmp_path / "a1.txt"
    unlabelled(TEXT / "global-en" / "a1.txt", src)
    before = src.read_bytes()
    out = tmp_path / "out"
    out.mkdir()
    (out / "a1.txt").hardlink_to(src)
    code, _, err = clean([src], out)
    assert code == 2
    assert "would overwrite the input" in err
    assert src.read_bytes() == before


def test_a_symbolic_link_at_the_output_is_not_followed(tmp_path: Path) -> None:
    src = tmp_path / "x.txt"
    src.write_text(RELEASE, encoding="utf-8")
    precious = tmp_path / "precious.txt"
    precious.write_text("not to be touched", encoding="utf-8")
    out = tmp_path / "out"
    out.mkdir()
    (out / "x.txt").symlink_to(precious)
    code, _, err = clean([src], out)
    assert code == 2
    assert f"{out / 'x.txt'}: is a symbolic link" in err
    assert precious.read_text(encoding="utf-8") == "not to be touched"
    assert (out / "x.txt").is_symlink()


def test_a_directory_at_the_output_is_named(tmp_path: Path) -> None:
    src = tmp_path / "x.txt"
    src.write_text(RELEASE, encoding="utf-8")
    (tmp_path / "out" / "x.txt").mkdir(parents=True)
    code, _, err = clean([src], tmp_path / "out")
    assert code == 2
    assert f"{tmp_path / 'out' / 'x.txt'}: exists and is not a regular file" in err


def test_a_rerun_replaces_its_own_earlier_output(tmp_path: Path) -> None:
    src = tmp_path / "x.txt"
    src.write_text(RELEASE, encoding="utf-8")
    out = tmp_path / "out"
    assert clean([src], out)[0] == 0
    (out / "x.txt").write_text("stale", encoding="utf-8")
    assert clean([src], out)[0] == 0
    assert (out / "x.txt").read_text(encoding="utf-8") == RELEASE


def test_other_directories_are_the_family(tmp_path: Path) -> None:
    """A label two other sites print goes from a third site's only page; alone it stays."""
    for site in ("a", "b"):
        (tmp_path / site).mkdir()
        body = f"Follow our office\nRelease of site {site} told in one long sentence here."
        (tmp_path / site / "p.txt").write_text(body, encoding="utf-8")
    (tmp_path / "c").mkdir()
    page = tmp_path / "c" / "p.txt"
    page.write_text("Follow our office\nThe office runs programmes in four areas.", "utf-8")
    code, out, _ = clean([tmp_path / "a" / "p.txt", tmp_path / "b" / "p.txt", page], None)
    assert code == 0
    assert out.endswith("==> " + str(page) + " <==\nThe office runs programmes in four areas.\n")
    code, alone, _ = clean([page], None)
    assert alone == "Follow our office\nThe office runs programmes in four areas."
