"""The report's index.html in a real headless browser (Chromium).

Chromium is driven over the DevTools protocol through a pipe
(``--remote-debugging-pipe``: JSON messages, NUL-terminated, on file
descriptors 3 and 4), so no driver and no extra package is needed. The page is
loaded from disk; the test fails on any console error, uncaught exception or
failed resource load, and on any image that did not render.

Chromium missing: the test skips locally with the reason, and fails in CI
(``CI`` set), where ``.ci/run`` installs Debian's ``chromium``.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import select
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from bench import report

CANDIDATES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable", "chrome")
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-default-apps",
    "--disable-extensions",
    "--mute-audio",
    "--remote-debugging-pipe",
)
TIMEOUT = 60.0
WIRE = (
    "import os, sys; os.dup2(int(sys.argv[1]), 3); os.dup2(int(sys.argv[2]), 4); os.execvp(sys.argv[3], sys.argv[3:])"
)


def find_chromium() -> str | None:
    explicit = os.environ.get("CHROMIUM")
    if explicit:
        return explicit
    return next((path for path in map(shutil.which, CANDIDATES) if path), None)


@pytest.fixture(scope="module")
def chromium_path() -> str:
    path = find_chromium()
    if path is None:
        message = (
            "Chromium is not installed: the report's browser test needs it "
            "(apt-get install chromium, or set CHROMIUM=/path/to/chrome)"
        )
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return path


class Browser:
    """A minimal DevTools-protocol client over Chromium's debugging pipe."""

    def __init__(self, executable: str):
        self.profile = tempfile.mkdtemp(prefix="report-browser-")
        to_child_r, self._to_child = os.pipe()
        self._from_child, from_child_w = os.pipe()

        # stderr to a file: a full pipe nobody reads would block Chromium
        self._log = open(os.path.join(self.profile, "stderr.log"), "w+b")  # closed in close()
        # A fresh Python moves our pipe ends to the fds 3 and 4 Chromium expects, then becomes
        # Chromium: no code of this process runs between fork and exec (JAX may have threads).
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-c",
                WIRE,
                str(to_child_r),
                str(from_child_w),
                executable,
                *FLAGS,
                f"--user-data-dir={self.profile}/profile",
                "about:blank",
            ],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=self._log,
            pass_fds=(to_child_r, from_child_w),
        )
        os.close(to_child_r)
        os.close(from_child_w)
        self._buffer = b""
        self._next = 0
        self.events: list[dict] = []

    def _read(self, deadline: float) -> dict:
        while b"\0" not in self._buffer:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError("no answer from Chromium")
            ready, _, _ = select.select([self._from_child], [], [], left)
            if ready:
                chunk = os.read(self._from_child, 1 << 20)
                if not chunk:
                    self._log.seek(0)
                    err = self._log.read().decode(errors="replace")[-2000:]
                    raise RuntimeError(f"Chromium closed its debugging pipe: {err}")
                self._buffer += chunk
        message, self._buffer = self._buffer.split(b"\0", 1)
        return json.loads(message)

    def send(self, method: str, params: dict | None = None, session: str | None = None) -> dict:
        self._next += 1
        message = {"id": self._next, "method": method, "params": params or {}}
        if session:
            message["sessionId"] = session
        os.write(self._to_child, json.dumps(message).encode() + b"\0")
        deadline = time.monotonic() + TIMEOUT
        while True:
            reply = self._read(deadline)
            if reply.get("id") == self._next:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return reply.get("result", {})
            self.events.append(reply)

    def wait_for(self, method: str, session: str) -> dict:
        deadline = time.monotonic() + TIMEOUT
        for event in self.events:
            if event.get("method") == method and event.get("sessionId") == session:
                return event
        while True:
            event = self._read(deadline)
            self.events.append(event)
            if event.get("method") == method and event.get("sessionId") == session:
                return event

    def close(self) -> None:
        with contextlib.suppress(Exception):  # it is going away either way
            self.send("Browser.close")
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        for fd in (self._to_child, self._from_child):
            with contextlib.suppress(OSError):
                os.close(fd)
        self._log.close()
        shutil.rmtree(self.profile, ignore_errors=True)


def problems_on(browser: Browser, session: str) -> list[str]:
    """Console errors, uncaught exceptions and failed loads seen so far on the page."""
    out = []
    for event in browser.events:
        if event.get("sessionId") != session:
            continue
        method, params = event.get("method"), event.get("params", {})
        if method == "Runtime.exceptionThrown":
            details = params.get("exceptionDetails", {})
            out.append(f"exception: {details.get('exception', {}).get('description') or details.get('text')}")
        elif method == "Runtime.consoleAPICalled" and params.get("type") in ("error", "assert"):
            out.append("console.error: " + " ".join(str(a.get("value", a.get("description"))) for a in params["args"]))
        elif method == "Log.entryAdded" and params.get("entry", {}).get("level") == "error":
            entry = params["entry"]
            out.append(f"log: {entry.get('text')} {entry.get('url', '')}")
        elif method == "Network.loadingFailed":
            out.append(f"failed load: {params.get('errorText')}")
    return out


def open_page(browser: Browser, page: Path) -> str:
    target = browser.send("Target.createTarget", {"url": "about:blank"})["targetId"]
    session = browser.send("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
    for domain in ("Page", "Runtime", "Log", "Network"):
        browser.send(f"{domain}.enable", session=session)
    browser.send("Page.navigate", {"url": page.resolve().as_uri()}, session=session)
    browser.wait_for("Page.loadEventFired", session)
    return session


def evaluate(browser: Browser, session: str, expression: str):
    result = browser.send(
        "Runtime.evaluate", {"expression": expression, "returnByValue": True, "awaitPromise": True}, session=session
    )
    if "exceptionDetails" in result:
        raise AssertionError(f"page script failed: {result['exceptionDetails']}")
    return result["result"].get("value")


@pytest.fixture(scope="module")
def report_page(tmp_path_factory) -> Path:
    from tests.test_report import make_run

    root = tmp_path_factory.mktemp("browser")
    before = make_run(root, "before", variants=True)
    after = make_run(root, "after", slow={"torch": 2.0}, variants=True, env={"cpu": "Other CPU @ 2 GHz"})
    out = report.write_report([after], compare_with=before, out=root / "report", formats=("png", "svg"))
    return out / "index.html"


@pytest.fixture
def browser(chromium_path):
    b = Browser(chromium_path)
    yield b
    b.close()


def test_report_loads_without_errors_and_every_image_renders(browser, report_page):
    session = open_page(browser, report_page)
    images = evaluate(
        browser,
        session,
        """
        Promise.all(Array.from(document.images).map(img => img.decode().catch(() => null)))
          .then(() => Array.from(document.images).map(img => ({
              alt: img.alt, complete: img.complete, width: img.naturalWidth, height: img.naturalHeight})))
    """,
    )
    charts = sorted((report_page.parent / "charts").glob("*.png"))
    assert len(images) == len(charts) >= 10
    broken = [img["alt"] for img in images if not img["complete"] or img["width"] == 0 or img["height"] == 0]
    assert broken == [], f"images that did not render: {broken}"
    # the warning that the compared runs come from different machines is on the page, in plain sight
    warning = evaluate(
        browser,
        session,
        """
        Array.from(document.querySelectorAll('#compare p.warn')).map(p => [p.textContent, p.offsetHeight])""",
    )
    assert warning and "different machines/versions" in warning[0][0] and warning[0][1] > 0
    time.sleep(0.2)  # let late console messages arrive
    evaluate(browser, session, "1")
    assert problems_on(browser, session) == []


@pytest.mark.parametrize("table,header", [("summary-table", "median"), ("tax-table", "tax")])
def test_tables_sort_on_click(browser, report_page, table, header):
    session = open_page(browser, report_page)
    column = evaluate(
        browser,
        session,
        f"""
        Array.from(document.querySelectorAll('#{table} th')).findIndex(th => th.textContent === '{header}')
    """,
    )
    assert column >= 0
    read = f"""Array.from(document.querySelectorAll('#{table} tbody tr'))
                 .map(tr => parseFloat(tr.cells[{column}].getAttribute('data-v')))"""
    before = [v for v in evaluate(browser, session, read) if v is not None]
    evaluate(browser, session, f"document.querySelectorAll('#{table} th')[{column}].click()")
    ascending = [v for v in evaluate(browser, session, read) if v is not None]
    evaluate(browser, session, f"document.querySelectorAll('#{table} th')[{column}].click()")
    descending = [v for v in evaluate(browser, session, read) if v is not None]
    numbers = [v for v in ascending if not math.isnan(v)]  # NaN (no time: crashed cells) sorts last
    assert numbers == sorted(numbers) and numbers != [v for v in before if not math.isnan(v)]
    assert [v for v in descending if not math.isnan(v)] == sorted(numbers, reverse=True)
    assert problems_on(browser, session) == []


def test_a_broken_page_is_caught(browser, tmp_path):
    """The checks above can fail: a missing image and a script error are both seen."""
    page = tmp_path / "broken.html"
    page.write_text(
        '<!DOCTYPE html><html><head><link rel="icon" href="data:,"></head><body>'
        '<img src="missing.png" alt="missing"><script>undefinedFunction();</script></body></html>'
    )
    session = open_page(browser, page)
    widths = evaluate(browser, session, "Array.from(document.images).map(i => i.naturalWidth)")
    assert widths == [0]
    time.sleep(0.2)
    evaluate(browser, session, "1")
    found = problems_on(browser, session)
    assert any("undefinedFunction" in p for p in found)
    assert any("missing.png" in p or "ERR_FILE_NOT_FOUND" in p for p in found)
