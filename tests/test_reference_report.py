"""The reference run can be browsed from the README: every link from the README into results/reference/
points to a committed file, and the committed full report (report.md with its PNG charts, methods.md)
links only files that are committed beside it; its one-page index.html (every chart embedded, megabytes)
is made by the README's command, never committed."""

from __future__ import annotations

import posixpath
import re
import shutil
import subprocess
import urllib.parse

import pytest

from tests.support import REPO

REFERENCE = "results/reference"
REPORT = f"{REFERENCE}/report"
#: a Markdown link or image's target, without its title or fragment
MD_LINK = re.compile(r"\]\(([^)\s#]+)(?:#[^)]*)?(?:\s+\"[^\"]*\")?\)")


@pytest.fixture(scope="module")
def committed() -> set[str]:
    """The files under results/reference/ that the last commit holds or the index stages (paths from the
    repository root)."""
    if shutil.which("git") is None or not (REPO / ".git").exists():
        pytest.skip("not a git checkout: which files are committed cannot be told")
    out = set()
    for command in (["ls-tree", "-r", "-z", "--name-only", "HEAD"], ["ls-files", "-z"]):
        done = subprocess.run(["git", *command, "--", REFERENCE], cwd=REPO, capture_output=True, text=True)
        if done.returncode != 0:
            pytest.skip(f"git {command[0]} failed ({done.stderr.strip()}): which files are committed cannot be told")
        out |= {p for p in done.stdout.split("\0") if p}
    return out


def local_targets(text: str, pattern: re.Pattern) -> list[str]:
    return [t for t in pattern.findall(text) if not re.match(r"[a-z][a-z0-9+.-]*:", t)]  # no http:, data:, mailto:


def resolved(base: str, target: str) -> str:
    """``target`` linked from a file in folder ``base``, as a path from the repository root."""
    target = urllib.parse.unquote(target.split("#", 1)[0])
    return posixpath.normpath(posixpath.join(base, target) if base else target)


def test_every_readme_link_into_the_reference_run_is_a_committed_file(committed):
    readme = (REPO / "README.md").read_text()
    links = [t for t in local_targets(readme, MD_LINK) if t.startswith(f"{REFERENCE}/") or t == REFERENCE]
    assert f"{REPORT}/report.md" in links
    for link in links:
        path = link.rstrip("/")
        if (REPO / path).is_dir():
            assert any(p.startswith(path + "/") for p in committed), f"README links {link}: nothing in it is committed"
        else:
            assert (REPO / path).is_file(), f"README links {link}, which does not exist"
            assert path in committed, f"README links {link}, which is not committed (.gitignore?)"


def test_the_committed_report_links_only_committed_files(committed):
    report_md = (REPO / REPORT / "report.md").read_text()
    md_links = {resolved(REPORT, t) for t in local_targets(report_md, MD_LINK)}
    charts = {p for p in committed if p.startswith(f"{REPORT}/charts/")}
    assert len(charts) > 20 and all(p.endswith(".png") for p in charts)
    # report.md shows every committed chart and links nothing that is not committed
    assert charts <= md_links and md_links <= committed, sorted(md_links - committed)
    assert {f"{REPORT}/{name}" for name in ("report.md", "methods.md")} <= committed
    assert f"{REPORT}/index.html" not in committed  # megabytes of embedded charts: made, not kept
