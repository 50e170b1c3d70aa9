"""Fixtures for the real-browser tests: Chromium, real Streamlit servers, pages, artifacts.

* ``find_chromium()``: STUDIO_CHROMIUM, /usr/bin/chromium, chromium / chromium-browser / google-chrome on
  PATH, then a Chromium downloaded by ``playwright install``. Without one the tests are skipped, except
  in CI (``CI=true``) where they fail: a CI run must never pass by skipping its browser tests.
* ``server``: one ``streamlit run app.py`` for the whole session; ``server_factory``: a *fresh* server
  (nothing has been requested from it but its health check) for share links and deep links.
  Every server's output goes to a log file in the artifacts folder; a test fails when a server logs a
  ``Traceback`` while it runs.
* ``page``: a new browser context per test (its own Streamlit session); ``wait_idle(page)`` waits until
  the script has finished *and* the page has been drawn; ``assert_no_exception(page)`` checks that no
  exception box is on the page now or appeared on any page this context visited.
* Screenshots and logs go to STUDIO_ARTIFACTS or ``<tmp>/segmentation-studio-artifacts`` (outside the
  repository); the path is printed in the run's header and in its closing summary.
"""

from __future__ import annotations

import contextlib
import glob
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Callable, Iterator

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

# The idle test and request tracking are shared with the load benchmark, which drives the same pages.
from benchmarks.load_test import IDLE_JS, track_requests  # noqa: E402

IN_CI = os.environ.get("CI") == "true"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]
VIEWPORT = {"width": 1400, "height": 1000}
HEALTH_TIMEOUT_S = 60.0
INSTALL_HINT = ("install one with `apt-get install chromium` (Debian/Ubuntu) or `python -m playwright install "
                "chromium`, or point STUDIO_CHROMIUM at a Chromium/Chrome executable")


# ---------------------------------------------------------------------------------------------
# Artifacts
# ---------------------------------------------------------------------------------------------
def artifacts_dir() -> Path:
    folder = Path(os.environ.get("STUDIO_ARTIFACTS") or Path(tempfile.gettempdir()) / "segmentation-studio-artifacts")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _safe_name(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", text)[:120]


# Lines shown at the end of the run whatever the capture mode (the load figures add theirs).
SUMMARY_LINES: list[str] = []


def pytest_report_header(config) -> str:
    return f"browser test artifacts (screenshots, server logs): {artifacts_dir()}"


def pytest_terminal_summary(terminalreporter) -> None:
    if StudioServer.all_started or SUMMARY_LINES:
        terminalreporter.section("browser tests")
        terminalreporter.write_line(f"artifacts (screenshots, server logs, load_test.json): {artifacts_dir()}")
        for line in SUMMARY_LINES:
            terminalreporter.write_line(line)


# ---------------------------------------------------------------------------------------------
# Chromium
# ---------------------------------------------------------------------------------------------
def _executable(path: str | os.PathLike | None) -> str | None:
    if path and os.path.isfile(path) and os.access(path, os.X_OK):
        return str(path)
    return None


def _playwright_downloads() -> list[str]:
    """Chromium builds downloaded by ``playwright install`` (newest first)."""
    roots = [os.environ.get("PLAYWRIGHT_BROWSERS_PATH"), Path.home() / ".cache" / "ms-playwright",
             Path.home() / "Library" / "Caches" / "ms-playwright",
             Path(os.environ.get("LOCALAPPDATA", Path.home() / "AppData" / "Local")) / "ms-playwright"]
    patterns = ["chromium-*/chrome-linux*/chrome", "chromium-*/chrome-mac*/Chromium.app/Contents/MacOS/Chromium",
                "chromium-*/chrome-mac*/Google Chrome for Testing.app/Contents/MacOS/Google Chrome for Testing",
                "chromium-*/chrome-win*/chrome.exe",
                "chromium_headless_shell-*/chrome-*/headless_shell", "chromium_headless_shell-*/chrome-*/headless_shell.exe"]
    found: list[str] = []
    for root in filter(None, roots):
        for pattern in patterns:
            found += sorted(glob.glob(str(Path(root) / pattern)), reverse=True)
    return found


def find_chromium() -> str | None:
    """The Chromium to drive: STUDIO_CHROMIUM, /usr/bin/chromium, chromium / chromium-browser /
    google-chrome on PATH, then Playwright's own download. ``None`` when there is none."""
    env = os.environ.get("STUDIO_CHROMIUM")
    if env:
        # An explicit choice that does not exist is an error, not a reason to pick another browser.
        return _executable(env) or _executable(shutil.which(env))
    candidates = ["/usr/bin/chromium", *(shutil.which(n) for n in ("chromium", "chromium-browser", "google-chrome"))]
    candidates += _playwright_downloads()
    return next((path for path in map(_executable, candidates) if path), None)


def unavailable(message: str) -> None:
    """Fail in CI (a CI run must not go green by skipping its browser tests), skip elsewhere."""
    if IN_CI:
        pytest.fail(f"{message} (CI=true: browser tests must run in CI, so this is a failure, not a skip)",
                    pytrace=False)
    pytest.skip(message)


@pytest.fixture(scope="session")
def chromium_path() -> str:
    path = find_chromium()
    if path is None:
        env = os.environ.get("STUDIO_CHROMIUM")
        detail = f"STUDIO_CHROMIUM={env!r} is not an executable file" if env else "no Chromium found"
        unavailable(f"{detail}; {INSTALL_HINT}")
    return path


# ---------------------------------------------------------------------------------------------
# Real Streamlit servers
# ---------------------------------------------------------------------------------------------
def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class StudioServer:
    """``streamlit run app.py`` on a free port, in its own process group, output logged to a file."""

    all_started: list["StudioServer"] = []

    def __init__(self, name: str, *extra_args: str, env: dict[str, str] | None = None) -> None:
        self.env = dict(env or {})
        self.port = _free_port()
        self.name = name
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.log_path = artifacts_dir() / f"server-{_safe_name(name)}-{self.port}.log"
        self.command = [sys.executable, "-m", "streamlit", "run", "app.py", "--server.port", str(self.port),
                        "--server.address", "127.0.0.1", "--server.headless", "true",
                        "--browser.gatherUsageStats", "false", "--server.fileWatcherType", "none", *extra_args]
        self.proc: subprocess.Popen | None = None
        self._log = None

    def start(self) -> "StudioServer":
        self.log_path.write_bytes(b"")
        self._log = open(self.log_path, "ab")  # append mode: the log is read (and may be added to) meanwhile
        self.proc = subprocess.Popen(self.command, cwd=REPO_ROOT, stdout=self._log, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL, start_new_session=True,
                                     env={**os.environ, "PYTHONUNBUFFERED": "1", **self.env})
        StudioServer.all_started.append(self)
        deadline = time.monotonic() + HEALTH_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                self.stop()
                raise RuntimeError(f"the Streamlit server exited with code {self.proc.returncode}:\n{self.log_tail()}")
            try:
                with urllib.request.urlopen(self.base_url + "/_stcore/health", timeout=2) as response:
                    if response.read().decode().strip() == "ok":
                        return self
            except OSError:
                pass
            time.sleep(0.25)
        self.stop()
        raise RuntimeError(f"{self.base_url}/_stcore/health did not answer 'ok' within {HEALTH_TIMEOUT_S:.0f} s:\n"
                           f"{self.log_tail()}")

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def stop(self) -> None:
        """Terminate the whole process group (SIGTERM, then SIGKILL after 10 s)."""
        proc = self.proc
        if proc is not None and proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(10)
        if self._log is not None and not self._log.closed:
            self._log.close()

    def log_size(self) -> int:
        return self.log_path.stat().st_size if self.log_path.exists() else 0

    def log_text(self, offset: int = 0) -> str:
        if not self.log_path.exists():
            return ""
        with open(self.log_path, "rb") as f:
            f.seek(offset)
            return f.read().decode("utf-8", errors="replace")

    def log_tail(self, chars: int = 3000) -> str:
        return self.log_text()[-chars:]


class ServerTraceback(Exception):
    """A server logged a Traceback. Not an AssertionError: an ``xfail(raises=AssertionError)`` must not
    pass because the app crashed."""


class ExceptionBox(Exception):
    """The page shows an exception box (same reasoning as :class:`ServerTraceback`)."""


def traceback_excerpt(text: str) -> str | None:
    index = text.find("Traceback")
    return None if index < 0 else text[max(0, index - 200): index + 2500]


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_call(item):
    """Fail the test when any server logged a Traceback while it ran."""
    offsets = {id(s): s.log_size() for s in StudioServer.all_started}
    outcome = yield
    for server in StudioServer.all_started:
        excerpt = traceback_excerpt(server.log_text(offsets.get(id(server), 0)))
        if excerpt:
            message = f"the server {server.name} ({server.log_path}) logged a Traceback during this test:\n{excerpt}"
            if outcome.excinfo is not None:
                message += f"\n(the test itself failed with: {outcome.excinfo[1]!r})"
            outcome.force_exception(ServerTraceback(message))
            break


@pytest.fixture(scope="session")
def server(chromium_path) -> Iterator[StudioServer]:
    """One real server for the whole session."""
    print(f"\nbrowser test artifacts (screenshots, server logs): {artifacts_dir()}")
    srv = StudioServer("session").start()
    yield srv
    srv.stop()
    excerpt = traceback_excerpt(srv.log_text())
    assert excerpt is None, f"the session server logged a Traceback ({srv.log_path}):\n{excerpt}"


@pytest.fixture
def server_factory(request, chromium_path) -> Iterator[Callable[..., StudioServer]]:
    """Start FRESH servers (nothing but the health check has been requested from them); stopped at the end."""
    started: list[StudioServer] = []

    def start(*extra_args: str, env: dict[str, str] | None = None) -> StudioServer:
        srv = StudioServer(f"fresh-{request.node.name}", *extra_args, env=env).start()
        started.append(srv)
        return srv

    yield start
    for srv in started:
        srv.stop()
    for srv in started:  # including what it logged while shutting down
        excerpt = traceback_excerpt(srv.log_text())
        assert excerpt is None, f"the fresh server logged a Traceback ({srv.log_path}):\n{excerpt}"


# ---------------------------------------------------------------------------------------------
# Browser, contexts, pages
# ---------------------------------------------------------------------------------------------
# Streamlit sets data-test-script-state=notRunning slightly *before* React has drawn the last elements
# (on a first load up to ~1 s before, measured), so idle also requires the DOM to have been quiet for a
# moment and every image to have loaded. The observer also records every exception box that appears, on
# every page the context visits, through an exposed binding.
PAGE_INIT_JS = """
(() => {
  window.__studioLastMutation = performance.now();
  const reported = new WeakSet();
  new MutationObserver(() => {
    window.__studioLastMutation = performance.now();
    for (const box of document.querySelectorAll('[data-testid=stException]')) {
      if (reported.has(box)) continue;
      reported.add(box);
      if (window.studioSawException) window.studioSawException(location.href, box.innerText);
    }
  }).observe(document, {subtree: true, childList: true, attributes: true, characterData: true});
})();
"""


def wait_idle(page, settle_ms: int = 500, timeout_ms: int = 90_000) -> None:
    """Connected, script finished, page drawn: no DOM change for ``settle_ms``, every image loaded and no
    request in flight (the script state flips to notRunning while React still fetches the code of the
    widgets it is about to draw; on a first load that takes up to a second)."""
    deadline = time.monotonic() + timeout_ms / 1000
    page.wait_for_timeout(100)  # let a just-triggered rerun start
    while True:
        remaining = int((deadline - time.monotonic()) * 1000)
        page.wait_for_function(IDLE_JS, arg=settle_ms, timeout=max(remaining, 1000), polling=100)
        pending = getattr(page, "studio_pending", ())
        if not pending:
            assert_no_exception(page)  # fail at once, with the exception's text, rather than time out later
            return
        if time.monotonic() > deadline:
            raise TimeoutError(f"requests still in flight after {timeout_ms} ms: {[r.url for r in pending][:5]}")
        page.wait_for_timeout(100)


def seen_exceptions(page) -> list[tuple[str, str]]:
    return getattr(page.context, "studio_exceptions", [])


def assert_no_exception(page) -> None:
    """No exception box on the page now, and none appeared on any page this context visited."""
    boxes = page.get_by_test_id("stException").all_inner_texts()
    if boxes:
        raise ExceptionBox(f"exception box on {page.url}:\n{boxes[0][:2000]}")
    seen = seen_exceptions(page)
    if seen:
        raise ExceptionBox(f"exception box appeared on {seen[0][0]}:\n{seen[0][1][:2000]}")


def screenshot(page, name: str) -> Path:
    path = artifacts_dir() / f"{_safe_name(name)}.png"
    page.screenshot(path=str(path), full_page=True)
    print(f"screenshot: {path}")
    return path


@pytest.fixture(scope="session")
def playwright_sync(chromium_path):
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        unavailable("the playwright package is not installed (pip install -r requirements-test.txt)")
    with sync_playwright() as playwright:
        yield playwright


@pytest.fixture(scope="session")
def browser(playwright_sync, chromium_path):
    browser = playwright_sync.chromium.launch(executable_path=chromium_path, args=CHROMIUM_ARGS)
    yield browser
    browser.close()


def new_context(browser):
    """A fresh browser context (= a fresh Streamlit session) that records exception boxes."""
    context = browser.new_context(viewport=VIEWPORT)
    context.set_default_timeout(60_000)
    context.studio_exceptions = []
    context.expose_function("studioSawException", lambda url, text: context.studio_exceptions.append((url, text)))
    context.add_init_script(PAGE_INIT_JS)
    context.on("page", track_requests)
    return context


def new_page(context):
    return track_requests(context.new_page())


@pytest.fixture
def context(browser):
    ctx = new_context(browser)
    yield ctx
    ctx.close()


@pytest.fixture
def page(context):
    return new_page(context)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """A screenshot of the page of every failed browser test."""
    outcome = yield
    report = outcome.get_result()
    if report.when == "call" and report.failed and not hasattr(report, "wasxfail"):
        page = item.funcargs.get("page")
        if page is not None:
            with contextlib.suppress(Exception):
                path = artifacts_dir() / f"FAILED-{_safe_name(item.name)}.png"
                page.screenshot(path=str(path), full_page=True)
                report.sections.append(("screenshot", str(path)))
