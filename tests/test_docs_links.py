"""Every relative link of README.md and docs/*.md resolves: the file exists, and its
#anchor is a heading of that file as GitHub names it (lower case, punctuation dropped,
spaces to hyphens, a repeated heading suffixed -1, -2, ...). Links in code are not links.
The README stays short, and every docs page is reachable from it."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
PAGES = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
README_MAX_LINES = 600

_LINK = re.compile(r"!?\[(?:[^\[\]]|\[[^\]]*\])*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")
_HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")
_INLINE_CODE = re.compile(r"(`+)(?:(?!\1).)+\1")


def slug(heading: str) -> str:
    """GitHub's anchor for a heading's text (markdown of links and code reduced to text)."""
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", heading)  # a link: its text
    text = re.sub(r"[^\w\- ]", "", text.strip().lower())
    return text.replace(" ", "-")


def prose(path: Path) -> list[tuple[int, str]]:
    """The lines outside code (fenced or indented blocks), inline code blanked."""
    found: list[tuple[int, str]] = []
    fence: str | None = None
    previous_blank = True
    in_block = False
    for number, line in enumerate(path.read_text().splitlines(), 1):
        stripped = line.lstrip()
        if fence is not None:
            if stripped.startswith(fence):
                fence = None
            continue
        if stripped.startswith(("```", "~~~")):
            fence = stripped[:3]
            continue
        if line.startswith(("    ", "\t")) and (previous_blank or in_block):
            in_block = True
            continue
        in_block = False
        previous_blank = not line.strip()
        found.append((number, _INLINE_CODE.sub("", line)))
    return found


def anchors(path: Path) -> set[str]:
    names: set[str] = set()
    counts: dict[str, int] = {}
    for _, line in prose(path):
        match = _HEADING.match(line)
        if match is None:
            continue
        base = slug(match.group(2))
        seen = counts.get(base, 0)
        counts[base] = seen + 1
        names.add(base if seen == 0 else f"{base}-{seen}")
    return names


def links(path: Path) -> list[tuple[int, str]]:
    return [(n, target) for n, line in prose(path) for target in _LINK.findall(line)]


def test_slugs_follow_github() -> None:
    assert slug("POWERCYCLE_URL_ALLOWLIST and the safety rules") == (
        "powercycle_url_allowlist-and-the-safety-rules"
    )
    assert slug("The schedule library (`POWERCYCLE_SCHEDULES`)") == (
        "the-schedule-library-powercycle_schedules"
    )
    assert slug("Operating it: the CLI") == "operating-it-the-cli"
    assert slug("Capacity fallback (`fallbackTypes`)") == "capacity-fallback-fallbacktypes"


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(REPO)))
def test_every_relative_link_and_anchor_resolves(page: Path) -> None:
    broken = []
    for number, target in links(page):
        if re.match(r"^[a-z][a-z0-9+.-]*:", target):  # https:, mailto:
            continue
        where, _, anchor = target.partition("#")
        file = (page.parent / where).resolve() if where else page
        if not file.exists():
            broken.append(f"{page.name}:{number}: {target}: no such file")
        elif anchor and file.suffix == ".md" and anchor not in anchors(file):
            broken.append(f"{page.name}:{number}: {target}: no heading #{anchor}")
    assert not broken, "\n".join(broken)


def test_the_readme_starts_short_and_links_every_docs_page() -> None:
    readme = REPO / "README.md"
    assert len(readme.read_text().splitlines()) <= README_MAX_LINES
    linked = {(readme.parent / t.partition("#")[0]).resolve() for _, t in links(readme)}
    missing = [p.name for p in PAGES[1:] if p.resolve() not in linked]
    assert not missing, f"docs pages the README does not link: {missing}"


def test_every_docs_page_named_elsewhere_exists() -> None:
    """The templates, scripts and code name docs pages (`docs/deploy.md`, in a comment or a
    message): each must be there."""
    named = [
        *REPO.glob("template*.yaml"),
        *REPO.glob("*.sh"),
        REPO / "Dockerfile",
        *(REPO / "powercycle").rglob("*.py"),
    ]
    missing = [
        f"{path.relative_to(REPO)}: {page}"
        for path in named
        for page in re.findall(r"\bdocs/[\w.-]+\.md\b", path.read_text())
        if not (REPO / page).is_file()
    ]
    assert not missing, missing
