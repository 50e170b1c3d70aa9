"""Running ``python -m segmentation`` as a user would, from the tests (one helper for every CLI test)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from segmentation.batch import main

REPO = Path(__file__).resolve().parent.parent


def run_cli(*args: str, cwd: Path, timeout: float = 300) -> subprocess.CompletedProcess:
    """The command in a new process with this checkout first on the path; never a traceback on stderr."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))}
    done = subprocess.run([sys.executable, "-m", "segmentation", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=timeout)
    assert "Traceback" not in done.stderr, done.stderr
    return done


def run_cli_in_process(*args: str, cwd: Path, monkeypatch, capsys) -> subprocess.CompletedProcess:
    """The same command run in this process (faster), with pytest's ``monkeypatch`` and ``capsys``."""
    monkeypatch.chdir(cwd)
    try:
        code = main(list(args))
    except SystemExit as exit:
        code = exit.code
    captured = capsys.readouterr()
    return subprocess.CompletedProcess(args, code, captured.out, captured.err)
