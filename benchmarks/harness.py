"""Servers, ports and Chromium: the infrastructure shared by the real-browser tests and the benchmarks.

* :func:`free_port`: a free TCP port on 127.0.0.1.
* :func:`find_chromium`: the Chromium to drive (one rule for tests and benchmarks), :data:`CHROMIUM_ARGS`
  to launch it with and :data:`INSTALL_HINT` to print when there is none.
* :class:`StreamlitServer`: ``streamlit run SCRIPT`` on a free port, in its own process group, its output
  in a log file; waits for the health check, stops the whole group, reports the tracebacks it logged and
  its resident memory.
* :data:`PAGE_INIT_JS`, :data:`IDLE_JS` and :func:`track_requests`: when a Streamlit page in Playwright
  has finished its script *and* been drawn (used by the browser tests and the load benchmark).

Used by ``tests/browser/conftest.py``, ``benchmarks/browser_latency.py`` and ``benchmarks/load_test.py``.
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
import time
import urllib.request
from pathlib import Path
from typing import Mapping

REPO_ROOT = Path(__file__).resolve().parent.parent

CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]
INSTALL_HINT = ("install one with `apt-get install chromium` (Debian/Ubuntu) or `python -m playwright install "
                "chromium`, or point STUDIO_CHROMIUM at a Chromium/Chrome executable")
HEALTH_TIMEOUT_S = 60.0


def free_port() -> int:
    """A TCP port on 127.0.0.1 that is free now (the OS picks it)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def safe_name(text: str) -> str:
    """``text`` as a file name: anything but letters, digits, ``_ . -`` becomes ``_`` (120 characters at most)."""
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", text)[:120]


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
    patterns = ["chromium-*/chrome-linux*/chrome",
                "chromium-*/chrome-mac*/Chromium.app/Contents/MacOS/Chromium",
                "chromium-*/chrome-mac*/Google Chrome for Testing.app/Contents/MacOS/Google Chrome for Testing",
                "chromium-*/chrome-win*/chrome.exe",
                "chromium_headless_shell-*/chrome-*/headless_shell",
                "chromium_headless_shell-*/chrome-*/headless_shell.exe"]
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


# ---------------------------------------------------------------------------------------------
# Streamlit servers
# ---------------------------------------------------------------------------------------------
class StreamlitServer:
    """``streamlit run SCRIPT`` on a free port of 127.0.0.1, headless, in its own process group.

    ``extra_args`` are further ``streamlit run`` options (``--server.maxUploadSize 200``, ...); ``env`` is
    added to this process's environment, and ``cwd`` (where the script is run from) is put first on
    ``PYTHONPATH``, so a script outside it (``benchmarks/naive_app.py``) and a copy of the project given as
    ``cwd`` import that copy's ``segmentation``. All output goes to ``log_dir/server-NAME-PORT.log``
    (``NAME`` defaults to the script's stem); with ``keep_log=False`` the log is deleted on :meth:`stop`
    unless the server failed to start or logged a ``Traceback``.

    :meth:`start` (or ``with``) returns once ``/_stcore/health`` answers ``ok`` and raises ``RuntimeError``
    with the end of the log when the server exits or does not answer within :data:`HEALTH_TIMEOUT_S`.
    :meth:`stop` ends the process group (SIGTERM, then SIGKILL after 10 s).
    """

    def __init__(self, script: str | os.PathLike = "app.py", *extra_args: str, log_dir: Path,
                 name: str | None = None, cwd: Path = REPO_ROOT, env: Mapping[str, str] | None = None,
                 keep_log: bool = True) -> None:
        self.name = name or Path(script).stem
        self.cwd = Path(cwd)
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.command = [sys.executable, "-m", "streamlit", "run", str(script), "--server.port", str(self.port),
                        "--server.address", "127.0.0.1", "--server.headless", "true",
                        "--browser.gatherUsageStats", "false", "--server.fileWatcherType", "none", *extra_args]
        self.env = {**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})}
        self.env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(self.cwd), self.env.get("PYTHONPATH")]))
        self.log_path = Path(log_dir) / f"server-{safe_name(self.name)}-{self.port}.log"
        self.keep_log = keep_log
        self.proc: subprocess.Popen | None = None
        self._log = None
        self._healthy = False

    def start(self) -> StreamlitServer:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self.log_path.write_bytes(b"")
        self._log = open(self.log_path, "ab")  # append mode: the log is read (and may be added to) meanwhile
        self.proc = subprocess.Popen(self.command, cwd=self.cwd, env=self.env, stdout=self._log,
                                     stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)
        deadline = time.monotonic() + HEALTH_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                self.stop()
                raise RuntimeError(f"the Streamlit server {self.name} exited with code {self.proc.returncode} "
                                   f"({self.log_path}):\n{self.log_tail()}")
            try:
                with urllib.request.urlopen(self.base_url + "/_stcore/health", timeout=2) as response:
                    if response.read().decode().strip() == "ok":
                        self._healthy = True
                        return self
            except OSError:
                pass
            time.sleep(0.25)
        self.stop()
        raise RuntimeError(f"{self.base_url}/_stcore/health did not answer 'ok' within {HEALTH_TIMEOUT_S:.0f} s "
                           f"({self.log_path}):\n{self.log_tail()}")

    def stop(self) -> None:
        """Terminate the process group we started (SIGTERM, then SIGKILL after 10 s), nothing else."""
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
        if not self.keep_log and self._healthy and self.traceback() is None:
            self.log_path.unlink(missing_ok=True)

    def __enter__(self) -> StreamlitServer:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    @property
    def pid(self) -> int:
        assert self.proc is not None, "the server has not been started"
        return self.proc.pid

    def rss_mb(self) -> float:
        """Resident memory of the server and all its child processes, in MB (0 once it has exited)."""
        import psutil

        try:
            root = psutil.Process(self.pid)
            procs = [root, *root.children(recursive=True)]
        except psutil.NoSuchProcess:
            return 0.0
        total = 0
        for proc in procs:
            with contextlib.suppress(psutil.NoSuchProcess, psutil.AccessDenied):
                total += proc.memory_info().rss
        return total / 2**20

    def log_size(self) -> int:
        return self.log_path.stat().st_size if self.log_path.exists() else 0

    def log_text(self, offset: int = 0) -> str:
        """What the server has logged (from byte ``offset`` on)."""
        if not self.log_path.exists():
            return ""
        with open(self.log_path, "rb") as f:
            f.seek(offset)
            return f.read().decode("utf-8", errors="replace")

    def log_tail(self, chars: int = 3000) -> str:
        return self.log_text()[-chars:]

    def traceback(self, offset: int = 0) -> str | None:
        """The first ``Traceback`` the server logged (from byte ``offset`` on), with context; else ``None``."""
        text = self.log_text(offset)
        index = text.find("Traceback")
        return None if index < 0 else text[max(0, index - 200): index + 2500]


# ---------------------------------------------------------------------------------------------
# When a Streamlit page is idle (Playwright)
# ---------------------------------------------------------------------------------------------
# Streamlit sets data-test-script-state=notRunning slightly *before* React has drawn the last elements
# (on a first load up to ~1 s before, measured), so idle also requires the DOM to have been quiet for a
# moment and every image to have loaded. Install PAGE_INIT_JS in every document of a browser context
# (``context.add_init_script``): it keeps the time of the last DOM change that IDLE_JS reads, and reports
# every exception box that appears to ``window.studioSawException(url, text)`` when the context exposes
# such a function (the browser tests do, to fail on an exception box that a navigation took away).
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

# ``page.wait_for_function(IDLE_JS, arg=settle_ms)``: connected, script finished, a title (or an exception
# box) drawn, no element still loading its code, every image loaded and no DOM change for ``settle_ms``.
IDLE_JS = """(settle) => {
  const app = document.querySelector('[data-testid=stApp]');
  if (!app || app.dataset.testConnectionState !== 'CONNECTED'
      || app.dataset.testScriptState !== 'notRunning')
    return false;
  // A script that died shows an exception box (and maybe no title): idle too, so the caller reports it.
  const crashed = !!document.querySelector('[data-testid=stException]');
  if (!crashed && !document.querySelector('[data-testid=stMain] h1')) return false;
  if (document.querySelector('[data-testid=stSkeleton]')) return false;  // an element still loading its code
  if (Array.from(document.images).some(img => !img.complete)) return false;
  return performance.now() - (window.__studioLastMutation || 0) >= settle;
}"""


def track_requests(page):
    """Count the page's HTTP requests in flight in ``page.studio_pending`` (Streamlit loads each widget's
    code on first use, after the script state already says notRunning); returns the page."""
    if not hasattr(page, "studio_pending"):
        page.studio_pending = set()
        pending = page.studio_pending
        page.on("request", lambda request: pending.add(request))
        page.on("requestfinished", lambda request: pending.discard(request))
        page.on("requestfailed", lambda request: pending.discard(request))
    return page
