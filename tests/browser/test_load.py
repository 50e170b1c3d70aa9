"""Load test against a real server: concurrent sessions stay isolated and memory comes back.

Drives ``benchmarks.load_test.run_load`` (Playwright's async API, one Chromium, one context per session)
on a fresh server started with a short ``server.disconnectedSessionTTL`` (closed sessions are released
within the test) and ``load_test.SERVER_ENV`` (glibc returns freed memory, so RSS follows what the app
holds; the bound and the measurements behind it are documented in ``benchmarks/load_test.py``).
The figures are printed (run pytest with ``-s`` to see them live; they are also in the captured output
of a failure) and written to ``load_test.json`` in the artifacts folder.
``python -m benchmarks.load_test`` runs the same measurement outside pytest and writes
``benchmarks/results/load_test.json``.
"""

from __future__ import annotations

import asyncio
import json
import os
import threading

import pytest

from benchmarks import load_test  # the repository root is put on sys.path by conftest.py

from .conftest import SUMMARY_LINES, artifacts_dir

SESSIONS = int(os.environ.get("STUDIO_LOAD_SESSIONS", "10"))
SLIDER_MOVES = int(os.environ.get("STUDIO_LOAD_MOVES", "3"))

pytestmark = pytest.mark.timeout(420)


def _run_in_thread(coroutine_factory):
    """Run an asyncio coroutine in its own thread: the session's sync Playwright owns this thread's loop."""
    result: dict = {}

    def target():
        try:
            result["value"] = asyncio.run(coroutine_factory())
        except BaseException as error:  # noqa: BLE001 - re-raised in the test thread
            result["error"] = error

    thread = threading.Thread(target=target, name="load-test")
    thread.start()
    thread.join()
    if "error" in result:
        raise result["error"]
    return result["value"]


def test_concurrent_sessions_are_isolated_and_memory_returns(server_factory, chromium_path, tmp_path):
    assert SESSIONS >= 10, "the load test drives at least 10 concurrent sessions"
    server = server_factory("--server.disconnectedSessionTTL", str(load_test.DISCONNECTED_SESSION_TTL),
                            env=load_test.SERVER_ENV)
    figures = _run_in_thread(lambda: load_test.run_load(
        server, sessions=SESSIONS, moves=SLIDER_MOVES, image_dir=tmp_path / "images", chromium=chromium_path))

    out = artifacts_dir() / "load_test.json"
    out.write_text(json.dumps(figures, indent=2) + "\n")
    print("\n" + load_test.summary(figures))
    print(f"figures written to {out}")
    SUMMARY_LINES.append(load_test.summary(figures))

    assert figures["errors"] == 0, "\n".join(figures["error_messages"])
    assert figures["page_loads"] == SESSIONS
    assert figures["widget_interactions"] == SESSIONS * (1 + SLIDER_MOVES)  # one upload + the slider moves
    for session in figures["per_session"]:
        # Each session saw its own file and its own (unique) object count after every step.
        assert session["checks"] == 1 + SLIDER_MOVES, session
        assert session["seen_objects"] == [str(session["expected_objects"])] * (1 + SLIDER_MOVES), session
    assert len({s["expected_objects"] for s in figures["per_session"]}) == SESSIONS
    media = figures["media_storage_bytes"]
    if None not in media.values():
        # The images shown to the closed sessions were released with them: what is left is the last probe
        # session's (the default sample, like at the start).
        assert media["final"] <= media["start"] + 256 * 1024, media
    assert figures["rss_final_mb"] <= figures["memory_bound_mb"], (
        f"server RSS {figures['rss_final_mb']} MB after the sessions closed, above the documented bound "
        f"{figures['memory_bound_rule']} = {figures['memory_bound_mb']} MB (see benchmarks/load_test.py)")
