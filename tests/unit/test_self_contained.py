"""The repository explains itself: nothing in it points outside it, and its links work.

Every file of the repository (tracked, or new and not ignored) is read for references to
places a reader of the repository cannot follow:

* a path that climbs out of the repository, or to nothing in it (``../…``);
* an absolute path on somebody's machine (under ``/work``, ``/home`` or ``/Users``);
* a rules document, or the articles behind them, kept somewhere else (a product brief or a
  style guide by file name, a ``seeds/`` folder): the domain's rules are told in
  docs/domain.md, and that is where to point.

And in-repository references must lead somewhere: every relative link of the Markdown
files reaches a file of the repository (and, with ``#…``, one of its headings), and every
repository path a file names (``ledger/privacy.py``, ``docs/domain.md#repair``) exists.

This file is the one exception to the scan: it spells the patterns out to test them.
"""

from __future__ import annotations

import fnmatch
import functools
import re
import subprocess
import unicodedata
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from urllib.parse import unquote

import pytest
from markdown_it import MarkdownIt
from markdown_it.token import Token

ROOT = Path(__file__).resolve().parents[2]
THIS_FILE = PurePosixPath(Path(__file__).resolve().relative_to(ROOT).as_posix())

# The top-level folders whose paths files name, as in "ledger/domain/repair.py".
REPOSITORY_FOLDERS = ("ledger", "projections", "tests", "bench", "deploy", "docs", ".ci")

# Rules documents and source material that live outside the repository, by name.
OUTSIDE_DOCUMENTS = re.compile(
    r"(?<![\w-])(?:PRODUCT|STYLE)\.md\b|(?<![\w.-])seeds/", re.IGNORECASE
)
# Absolute paths of a particular machine's home or work folders.
MACHINE_PATHS = re.compile(r"(?<![\w.~:/-])/(?:work|home|Users)/[^\s'\"`()\[\]<>,;]+")
# A path that starts by climbing: "../beside/x", "../../etc".
# It ends where a compose file's volume names where it goes (``../x.sql:/in/container``).
CLIMBING_PATH = re.compile(r"(?<![\w./-])((?:\.\./)+[^\s'\"`()\[\]<>{},;:|*]*)")
# A path into the repository named in prose, code or a comment, with an optional heading.
REPOSITORY_PATH = re.compile(
    r"(?<![\w./-])((?:" + "|".join(re.escape(f) for f in REPOSITORY_FOLDERS) + r")"
    r"/[\w./-]*?)(?:#([\w-]+))?(?=$|[\s'\"`()\[\]<>,;:!?]|\.(?:\s|$))"
)
# Names ending like these are files; anything else is a folder, a route or a glob.
FILE_SUFFIXES = (
    ".py", ".md", ".sql", ".html", ".css", ".js", ".toml", ".yaml", ".yml", ".json", ".txt",
)

MARKDOWN = MarkdownIt("commonmark").enable("table")
URL_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:")


@dataclass(frozen=True)
class Finding:
    path: PurePosixPath
    line: int
    what: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.what}"


# --- The repository's files -------------------------------------------------------------


@functools.cache
def repository_files() -> frozenset[PurePosixPath]:
    """Tracked files and new ones not ignored, as git sees them; without git, the tree
    less what .gitignore names."""
    try:
        listed = subprocess.run(
            ["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"],
            cwd=ROOT, capture_output=True, check=True,
        ).stdout.decode()
        names = [name for name in listed.split("\0") if name]
    except (OSError, subprocess.CalledProcessError):
        names = list(_walk_without_ignored())
    # A file deleted but not yet staged is still listed by git: only what is there counts.
    return frozenset(PurePosixPath(name) for name in names if (ROOT / name).is_file())


def _walk_without_ignored() -> Iterator[str]:
    ignored = [
        line.strip().rstrip("/")
        for line in (ROOT / ".gitignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    ignored.append(".git")
    for path in ROOT.rglob("*"):
        parts = path.relative_to(ROOT).parts
        if path.is_file() and not any(
            fnmatch.fnmatch(part, pattern) for part in parts for pattern in ignored
        ):
            yield "/".join(parts)


@functools.cache
def repository_folders() -> frozenset[PurePosixPath]:
    return frozenset(parent for name in repository_files() for parent in name.parents)


def exists_in_repository(path: PurePosixPath) -> bool:
    return path in repository_files() or path in repository_folders()


def text_of(path: PurePosixPath) -> str | None:
    raw = (ROOT / path).read_bytes()
    if b"\0" in raw:
        return None
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return None


def scanned_files() -> Iterator[tuple[PurePosixPath, str]]:
    for path in sorted(repository_files()):
        if path == THIS_FILE:
            continue
        text = text_of(path)
        if text is not None:
            yield path, text


def within_repository(base: PurePosixPath, relative: str) -> PurePosixPath | None:
    """``relative`` followed from the folder ``base``, or None when it leaves the
    repository."""
    parts: list[str] = list(base.parts)
    for part in PurePosixPath(relative).parts:
        if part == "..":
            if not parts:
                return None
            parts.pop()
        elif part != ".":
            parts.append(part)
    return PurePosixPath(*parts)


# --- Headings, as GitHub anchors them ---------------------------------------------------


@functools.cache
def anchors_of(path: PurePosixPath) -> frozenset[str]:
    """The ``#…`` anchors GitHub gives the headings of a Markdown file: lower case,
    punctuation dropped, spaces as hyphens, a repeated heading numbered -1, -2, …"""
    text = text_of(path) or ""
    tokens = MARKDOWN.parse(text)
    seen: dict[str, int] = {}
    anchors: set[str] = set()
    for index, token in enumerate(tokens):
        if token.type != "heading_open":
            continue
        words = "".join(
            child.content for child in tokens[index + 1].children or ()
            if child.type in {"text", "code_inline"}
        )
        slug = "".join(
            char for char in words.strip().lower()
            if char in " -_" or unicodedata.category(char)[0] in "LN"
        ).replace(" ", "-")
        count = seen.get(slug, 0)
        seen[slug] = count + 1
        anchors.add(slug if count == 0 else f"{slug}-{count}")
    return frozenset(anchors)


def missing_anchor(target: PurePosixPath, fragment: str) -> str | None:
    if target.suffix != ".md" or target not in repository_files():
        return None
    if fragment.lower() in anchors_of(target):
        return None
    return f"{target} has no heading #{fragment}"


# --- What counts as pointing outside ----------------------------------------------------


def outside_references(path: PurePosixPath, text: str) -> Iterator[Finding]:
    """References in ``text`` (the content of ``path``) to places outside the repository."""
    for number, line in enumerate(text.splitlines(), start=1):
        for match in OUTSIDE_DOCUMENTS.finditer(line):
            yield Finding(
                path, number,
                f"names {match.group()!r}, kept outside the repository: point to "
                "docs/domain.md (or the file in the repository) instead",
            )
        for match in MACHINE_PATHS.finditer(line):
            yield Finding(path, number, f"{match.group()!r} is a path on one machine")
        for match in CLIMBING_PATH.finditer(line):
            named = match.group(1).rstrip(".:!?")
            reached = within_repository(path.parent, named)
            if reached is None:
                yield Finding(path, number, f"{named!r} leads out of the repository")
            elif not exists_in_repository(reached):
                yield Finding(path, number, f"{named!r} leads to nothing in the repository")


def missing_repository_paths(path: PurePosixPath, text: str) -> Iterator[Finding]:
    """Repository paths ``text`` names (``ledger/privacy.py``, ``docs/domain.md#repair``)
    that lead to no file, folder or heading."""
    for number, line in enumerate(text.splitlines(), start=1):
        for match in REPOSITORY_PATH.finditer(line):
            named, fragment = match.group(1), match.group(2)
            target = PurePosixPath(named.rstrip("/"))
            is_file = named.endswith(FILE_SUFFIXES)
            if not is_file and not named.endswith("/") and fragment is None:
                continue  # a module path without suffix, a route, a word: not checked
            if not exists_in_repository(target):
                yield Finding(path, number, f"names {named!r}, which is not in the repository")
            elif fragment is not None and (problem := missing_anchor(target, fragment)):
                yield Finding(path, number, problem)


def _links(tokens: Iterable[Token], line: int = 0) -> Iterator[tuple[int, str]]:
    """Every link's target and image's source, with the line it is on."""
    for token in tokens:
        if token.map:
            line = token.map[0] + 1
        elif token.type in {"softbreak", "hardbreak"}:
            line += 1
        if token.type == "link_open":
            yield line, str(token.attrs.get("href", ""))
        elif token.type == "image":
            yield line, str(token.attrs.get("src", ""))
        if token.children:
            yield from _links(token.children, line)


def broken_links(path: PurePosixPath, text: str) -> Iterator[Finding]:
    """Links of a Markdown file that do not reach a file of the repository or a heading."""
    for line, href in _links(MARKDOWN.parse(text)):
        if URL_SCHEME.match(href):
            continue  # a web address
        if href.startswith("/"):
            yield Finding(path, line, f"link {href!r} is absolute: link relative to the file")
            continue
        relative, _, fragment = href.partition("#")
        target = within_repository(path.parent, unquote(relative)) if relative else path
        if target is None:
            yield Finding(path, line, f"link {href!r} leads out of the repository")
        elif not exists_in_repository(target):
            yield Finding(path, line, f"link {href!r} leads to nothing in the repository")
        elif fragment and (problem := missing_anchor(target, fragment)):
            yield Finding(path, line, f"link {href!r}: {problem}")


# --- The repository as it is ------------------------------------------------------------


def test_no_file_refers_to_a_place_outside_the_repository() -> None:
    found = [
        str(finding)
        for path, text in scanned_files()
        for finding in outside_references(path, text)
    ]
    assert not found, "\n".join(found)


def test_every_relative_link_of_the_markdown_files_leads_somewhere() -> None:
    found = [
        str(finding)
        for path, text in scanned_files()
        if path.suffix == ".md"
        for finding in broken_links(path, text)
    ]
    assert not found, "\n".join(found)


def test_every_repository_path_a_file_names_exists() -> None:
    found = [
        str(finding)
        for path, text in scanned_files()
        for finding in missing_repository_paths(path, text)
    ]
    assert not found, "\n".join(found)


def test_the_readme_links_the_domain_rules() -> None:
    readme = PurePosixPath("README.md")
    links = {href for _, href in _links(MARKDOWN.parse(text_of(readme) or ""))}
    assert "docs/domain.md" in {href.partition("#")[0] for href in links}


def test_the_scan_reads_the_repository() -> None:
    scanned = {path for path, _ in scanned_files()}
    assert {PurePosixPath("README.md"), PurePosixPath("docs/domain.md")} <= scanned
    assert PurePosixPath("ledger/domain/agreements.py") in scanned
    assert THIS_FILE not in scanned
    assert not any(path.parts[0] == ".venv" for path in scanned)


# --- The checks themselves: each catches what it is for ---------------------------------

HERE = PurePosixPath("ledger/domain/agreements.py")
# A folder beside the repository, as a path climbing out of it would name it (spelt in two
# parts, so that this file itself names no such place).
BESIDE = "../" + "shared"
README = PurePosixPath("README.md")


@pytest.mark.parametrize(
    "line",
    [
        f"The rules, from {BESIDE}/PRODUCT.md:",
        f"see {BESIDE}/seeds for the articles",
        f"What the product is: `{BESIDE}/PRODUCT.md`.",
        "# as STYLE.md asks",
        "Read /work/shared/PRODUCT.md first",
        "the brief in /home/someone/brief.txt",
        "cd ../../elsewhere",
        "from the articles in seeds/",
    ],
)
def test_a_reference_outside_is_found(line: str) -> None:
    assert list(outside_references(HERE, f"x = 1\n# {line}\n"))
    assert list(outside_references(README, line))


@pytest.mark.parametrize(
    "line",
    [
        "The rules: docs/domain.md#agreements.",
        "installs Debian's chromium at /usr/bin/chromium",
        "WORKDIR /app",
        'cd "$(dirname "$0")/.."',
        "GET /static/../app.css is refused",
        "a fixed seed and 200 examples",
        "https://example.com/home/page",
        "the product's stylesheet, app.css",
    ],
)
def test_a_reference_inside_is_left_alone(line: str) -> None:
    assert not list(outside_references(HERE, line))


def test_a_climbing_path_that_stays_inside_and_exists_is_left_alone() -> None:
    template = PurePosixPath("ledger/web/templates/base.html")
    assert not list(outside_references(template, 'href="../static/app.css"'))
    assert list(outside_references(template, 'href="../static/missing.css"'))


@pytest.mark.parametrize(
    ("text", "broken"),
    [
        ("[rules](docs/domain.md)", False),
        ("[repair](docs/domain.md#repair)", False),
        ("[benchmarks](#benchmarks)", False),
        ("[web](https://www.standardwebhooks.com/)", False),
        (f"[rules]({BESIDE}/PRODUCT.md)", True),
        ("[rules](docs/rules.md)", True),
        ("[repair](docs/domain.md#no-such-heading)", True),
        ("[nowhere](#nowhere)", True),
        ("[abs](/work/shared/PRODUCT.md)", True),
        ("![chart](docs/chart.png)", True),
        ("| [in a table](docs/missing.md) |\n|---|\n| x |", True),
        ("`[not a link](docs/missing.md)` in code", False),
    ],
)
def test_a_broken_markdown_link_is_found(text: str, broken: bool) -> None:
    assert bool(list(broken_links(README, text))) is broken


@pytest.mark.parametrize(
    ("text", "missing"),
    [
        ("one module, `ledger/auth/policy.py`, decides", False),
        ("see docs/domain.md#disclosures.", False),
        ("tests/http/browser/ drive Chromium", False),
        ("kept in ledger/domain/gone.py", True),
        ("see docs/domain.md#consent-is-optional", True),
        ("in tests/nowhere/ as before", True),
        ("the ledger/domain package", False),
    ],
)
def test_a_repository_path_that_leads_nowhere_is_found(text: str, missing: bool) -> None:
    assert bool(list(missing_repository_paths(HERE, text))) is missing


def test_headings_are_anchored_as_github_does() -> None:
    anchors = anchors_of(PurePosixPath("docs/domain.md"))
    assert {"the-record", "who-sees-what", "where-each-rule-lives"} <= anchors
