"""The documentation stays inside the repository: every Markdown link resolves to a file here (and its
#anchor to a heading of that file), and no page, test or example points at text the repository does not
hold (planning documents, issue numbers). Reads files only; no TensorFlow."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
#: directories that hold no documentation of the repository (environments, outputs, caches)
SKIP = {".git", ".venv", "venv", ".asv", "runs", "figs", "build", "dist", ".pytest_cache", ".benchmarks", "results",
        "node_modules"}
#: text the repository does not hold: the planning documents, and issue numbers of the tracker
OUTSIDE = re.compile(r"\bPROTOCOL\.md|ENGINE[-_ ]NOTES|\bSTYLE\.md|\bSTYLE \d|\b[Ii]ssues? #?\d+|(?<![\w&/])#\d+\b")
#: prose that must say where things are in the repository (the generated leaderboard/README.md is checked
#: for its links only)
PROSE = ["README.md", "docs/*.md", "leaderboard/CONTRIBUTING.md", "leaderboard/in-progress/*.md", "benchmarks/**/*.md",
         "benchmarks/**/*.py", "benchmarks/**/*.sh", "examples/*.py", "tests/*.py"]

FENCE = re.compile(r"^(```|~~~).*?^\1", re.MULTILINE | re.DOTALL)
LINK = re.compile(r"!?\[(?:[^\[\]]|\[[^\]]*\])*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
HEADING = re.compile(r"^#{1,6}\s+(.*?)\s*#*\s*$", re.MULTILINE)
HTML_ID = re.compile(r"<a\s+(?:id|name)=\"([^\"]+)\"")


def markdown_files() -> list[Path]:
    return sorted(p for p in ROOT.rglob("*.md") if not SKIP & set(p.relative_to(ROOT).parts[:-1]))


def strip_code(text: str) -> str:
    """The text without fenced blocks and inline code spans (commands there are not links)."""
    return re.sub(r"`[^`\n]*`", "", FENCE.sub("", text))


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: link text kept, lower case, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", heading).replace("`", "")
    return re.sub(r"[^\w\- ]", "", text.lower()).replace(" ", "-")


def anchors(path: Path) -> set[str]:
    text = FENCE.sub("", path.read_text(encoding="utf-8"))
    seen: dict[str, int] = {}
    out = set(HTML_ID.findall(text))
    for heading in HEADING.findall(text):
        base = slug(heading)
        n = seen.get(base, 0)
        seen[base] = n + 1
        out.add(base if n == 0 else f"{base}-{n}")
    return out


def link_problems(path: Path) -> list[str]:
    problems = []
    for target in LINK.findall(strip_code(path.read_text(encoding="utf-8"))):
        where = f"{path.relative_to(ROOT)}: ({target})"
        if re.match(r"^[a-z][a-z0-9+.-]*:", target, re.IGNORECASE) or target.startswith(("/", "\\")):
            problems.append(f"{where} points outside the repository")
            continue
        file_part, _, anchor = target.partition("#")
        dest = (path.parent / file_part).resolve() if file_part else path
        if not dest.is_relative_to(ROOT):
            problems.append(f"{where} points outside the repository")
        elif not dest.exists():
            problems.append(f"{where} does not exist")
        elif anchor and dest.suffix == ".md" and anchor not in anchors(dest):
            problems.append(f"{where}: no heading #{anchor} in {dest.relative_to(ROOT)}")
    return problems


def test_slug_follows_github():
    assert slug("4.8 `corrective` [protocol 2]") == "48-corrective-protocol-2"
    assert slug("1.2 `xxz-12`: phases of the XXZ spin chain") == "12-xxz-12-phases-of-the-xxz-spin-chain"
    assert slug("The `setup` contract") == "the-setup-contract"


def test_link_check_catches_bad_links(tmp_path, monkeypatch):
    monkeypatch.setattr(sys.modules[__name__], "ROOT", tmp_path)
    (tmp_path / "a.md").write_text("# Top\n\n[ok](#top) [up](../x.md) [web](https://example.org) [gone](b.md)\n"
                                   "[ok2](a.md#top) [bad](a.md#nowhere) `[code](nope.md)`\n```\n[fenced](nope.md)\n```\n")
    problems = link_problems(tmp_path / "a.md")
    assert [p.split("(")[1].split(")")[0] for p in problems] == ["../x.md", "https://example.org", "b.md",
                                                                 "a.md#nowhere"]


def test_there_is_documentation_to_check():
    names = {str(p.relative_to(ROOT)) for p in markdown_files()}
    assert {"README.md", "docs/README.md", "docs/protocol.md", "docs/methods.md", "benchmarks/README.md",
            "leaderboard/CONTRIBUTING.md"} <= names


@pytest.mark.parametrize("path", markdown_files(), ids=lambda p: str(p.relative_to(ROOT)))
def test_every_markdown_link_resolves_inside_the_repository(path):
    assert link_problems(path) == []


def test_no_reference_to_text_outside_the_repository():
    found = []
    for pattern in PROSE:
        for path in sorted(ROOT.glob(pattern)):
            text = path.read_text(encoding="utf-8")
            if path.suffix == ".md":
                text = re.sub(r"\]\([^)]*\)", "]", text)  # link targets are checked above (anchors such as #4-suites)
            for n, line in enumerate(text.splitlines(), 1):
                if OUTSIDE.search(line) and path.name != "test_docs.py":
                    found.append(f"{path.relative_to(ROOT)}:{n}: {line.strip()}")
    assert found == []


def test_readme_is_a_landing_page_with_the_two_commands():
    """What qbench is comes first, then the install-and-run line and the test line that .ci/run mirrors."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    assert len(text.splitlines()) <= 150
    assert text.split("\n\n")[1].startswith("qbench is a benchmark suite")
    commands = text.split("```bash\n", 1)[1].split("```", 1)[0].splitlines()
    assert commands == [
        'python3 -m venv .venv && .venv/bin/pip install -e ".[test]" -c constraints.txt && '
        "QBENCH_DATA_DIR=../shared/data/mnist .venv/bin/qbench run --suite unlearning --quick",
        "QBENCH_DATA_DIR=../shared/data/mnist .venv/bin/python -m pytest",
    ]
