"""Running ``python -m segmentation`` as a user would, from the tests (one helper for every CLI test)."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

from segmentation import RECIPE_VERSION
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


def recipe_comment(recipe_json: str) -> str:
    """The first line (without its newline) of a measurements CSV made with the recipe ``recipe_json``.

    It names the recipe's version, kind and the SHA-256 of its UTF-8 text (the batch summary's ``recipe_sha256``).
    Spelled out here rather than taken from the library, so that a change to the line is one the tests see.
    """
    data = json.loads(recipe_json)
    digest = hashlib.sha256(recipe_json.encode("utf-8")).hexdigest()
    return f"# segmentation-studio recipe version {data['version']}, {data['kind']}, recipe_sha256 {digest}"


def measurement_lines(text: str, recipe_json: str, kind: str) -> list[str]:
    """The header and rows of a measurements CSV (app, command line or tiled), after checking its first line.

    That line must be :func:`recipe_comment` of ``recipe_json``, naming the current recipe version and ``kind``
    ("threshold" or "watershed"), and no other line may be a comment.
    """
    comment, *lines = text.splitlines()
    assert comment == recipe_comment(recipe_json), comment
    assert comment.startswith(f"# segmentation-studio recipe version {RECIPE_VERSION}, {kind}, recipe_sha256 "), comment
    assert not any(line.startswith("#") for line in lines)
    return lines
