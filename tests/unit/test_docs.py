"""The documents point at files that exist: a moved module or a renamed document must take
its links with it. Only relative links are checked; web addresses are left alone."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[2]
DOCUMENTS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
# Fenced blocks and inline code are shown text, not links.
CODE = re.compile(r"^```.*?^```|`[^`\n]*`", re.MULTILINE | re.DOTALL)
LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")
EXTERNAL = re.compile(r"^[a-z][a-z0-9+.-]*:", re.IGNORECASE)


def relative_links(document: Path) -> list[str]:
    text = CODE.sub("", document.read_text(encoding="utf-8"))
    targets = [match.group(1) for match in LINK.finditer(text)]
    return [t for t in targets if not EXTERNAL.match(t) and not t.startswith("#")]


@pytest.mark.parametrize("document", DOCUMENTS, ids=lambda path: path.name)
def test_every_relative_link_points_at_a_file_that_exists(document: Path) -> None:
    missing = [
        target
        for target in relative_links(document)
        if not (document.parent / target.split("#", 1)[0]).exists()
    ]
    assert missing == [], f"{document.relative_to(ROOT)} links to missing files: {missing}"


def test_the_readme_links_every_document() -> None:
    linked = {(ROOT / target).resolve() for target in relative_links(ROOT / "README.md")}
    unlinked = [path.name for path in DOCUMENTS[1:] if path.resolve() not in linked]
    assert len(DOCUMENTS) > 1 and unlinked == []


def test_links_are_found_where_they_are_written(tmp_path: Path) -> None:
    """The checker itself: a link in prose counts, one shown as code does not."""
    sample = tmp_path / "sample.md"
    sample.write_text(
        "See [design](docs/design.md#folders) and [the web](https://example.org).\n"
        "`[shown](not-a-link.md)`\n```\n[also shown](nor-this.md)\n```\n[top](#top)\n",
        encoding="utf-8",
    )
    assert relative_links(sample) == ["docs/design.md#folders"]
