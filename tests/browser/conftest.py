"""Fixtures for the real-browser tests: Chromium, real Streamlit servers, pages, artifacts.

Servers, ports, Chromium and the idle test come from ``benchmarks/harness.py`` (shared with the benchmarks).

* ``chromium_path``: ``harness.find_chromium()`` (STUDIO_CHROMIUM, /usr/bin/chromium, chromium /
  chromium-browser / google-chrome on PATH, then a Chromium downloaded by ``playwright install``). Without
  one the tests are skipped, except in CI (``CI=true``) where they fail: a CI run must never pass by
  skipping its browser tests.
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
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable, Iterator

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
if str(REPO_ROOT) not in sys.path:  # ``pytest`` (unlike ``python -m pytest``) does not put it there
    sys.path.insert(0, str(REPO_ROOT))

from benchmarks.harness import (  # noqa: E402
    CHROMIUM_ARGS,
    IDLE_JS,
    INSTALL_HINT,
    PAGE_INIT_JS,
    StreamlitServer,
    find_chromium,
    safe_name,
    track_requests,
)

IN_CI = os.environ.get("CI") == "true"
VIEWPORT = {"width": 1400, "height": 1000}


# ---------------------------------------------------------------------------------------------
# Artifacts
# ---------------------------------------------------------------------------------------------
def artifacts_dir() -> Path:
    folder = Path(os.environ.get("STUDIO_ARTIFACTS")
                  or Path(tempfile.gettempdir()) / "segmentation-studio-artifacts")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


# Lines shown at the end of the run whatever the capture mode (the load figures add theirs).
SUMMARY_LINES: list[str] = []


def pytest_report_header(config) -> str:
    return f"browser test artifacts (screenshots, server logs): {artifacts_dir()}"


def pytest_terminal_summary(terminalreporter) -> None:
    if SERVERS or SUMMARY_LINES:
        terminalreporter.section("browser tests")
        terminalreporter.write_line(f"artifacts (screenshots, server logs, load_test.json): {artifacts_dir()}")
        for line in SUMMARY_LINES:
            terminalreporter.write_line(line)


# ---------------------------------------------------------------------------------------------
# Chromium
# ---------------------------------------------------------------------------------------------
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
# Every server this run started (stopped ones included): their logs are watched for tracebacks.
SERVERS: list[StreamlitServer] = []


def start_server(name: str, *extra_args: str, env: dict[str, str] | None = None) -> StreamlitServer:
    """``streamlit run app.py`` (``harness.StreamlitServer``), logging to the artifacts folder."""
    server = StreamlitServer("app.py", *extra_args, name=name, env=env, log_dir=artifacts_dir())
    SERVERS.append(server)
    return server.start()


class ServerTraceback(Exception):
    """A server logged a Traceback. Not an AssertionError: an ``xfail(raises=AssertionError)`` must not
    pass because the app crashed."""


class ExceptionBox(Exception):
    """The page shows an exception box (same reasoning as :class:`ServerTraceback`)."""


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_call(item):
    """Fail the test when any server logged a Traceback while it ran."""
    offsets = {id(s): s.log_size() for s in SERVERS}
    outcome = yield
    for server in SERVERS:
        excerpt = server.traceback(offsets.get(id(server), 0))
        if excerpt:
            message = f"the server {server.name} ({server.log_path}) logged a Traceback during this test:\n{excerpt}"
            if outcome.excinfo is not None:
                message += f"\n(the test itself failed with: {outcome.excinfo[1]!r})"
            outcome.force_exception(ServerTraceback(message))
            break


@pytest.fixture(scope="session")
def server(chromium_path) -> Iterator[StreamlitServer]:
    """One real server for the whole session."""
    print(f"\nbrowser test artifacts (screenshots, server logs): {artifacts_dir()}")
    srv = start_server("session")
    yield srv
    srv.stop()
    excerpt = srv.traceback()
    assert excerpt is None, f"the session server logged a Traceback ({srv.log_path}):\n{excerpt}"


@pytest.fixture
def server_factory(request, chromium_path) -> Iterator[Callable[..., StreamlitServer]]:
    """Start FRESH servers (nothing but the health check has been requested from them); stopped at the end."""
    started: list[StreamlitServer] = []

    def start(*extra_args: str, env: dict[str, str] | None = None) -> StreamlitServer:
        srv = start_server(f"fresh-{request.node.name}", *extra_args, env=env)
        started.append(srv)
        return srv

    yield start
    for srv in started:
        srv.stop()
    for srv in started:  # including what it logged while shutting down
        excerpt = srv.traceback()
        assert excerpt is None, f"the fresh server logged a Traceback ({srv.log_path}):\n{excerpt}"


# ---------------------------------------------------------------------------------------------
# Browser, contexts, pages
# ---------------------------------------------------------------------------------------------
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
    path = artifacts_dir() / f"{safe_name(name)}.png"
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
                path = artifacts_dir() / f"FAILED-{safe_name(item.name)}.png"
                page.screenshot(path=str(path), full_page=True)
                report.sections.append(("screenshot", str(path)))
