"""The batch on an existing Dask cluster (``python -m segmentation ... --scheduler tcp://HOST:8786``).

The work per image is the local pool's, :func:`segmentation.batch._cli.process_image`: the workers get
each image's path and the recipe's JSON (never pixels), read the image themselves, write its results into
``--out`` atomically (a temporary file, then ``os.replace``; outputs never replace an input, which the
planning step checks) and send back only the summary row. ``--out`` must therefore be a folder that the
workers see under the same path (a shared file system), as must the images.

A worker that dies mid-image (killed, out of memory, its machine lost) costs nothing but time: the
scheduler gives its unfinished images to the other workers (Dask's ``distributed.scheduler.allowed-failures``,
3 by default, bounds how often one image may take a worker down before it is reported as failed), and
since each output is replaced atomically by identical bytes, an image redone is written exactly once
in effect. A transient error inside an image (a file system hiccup, an unexpected exception) is retried
on the worker (:data:`RETRIES` times) and then reported in its row; it never stops the batch.

This module imports ``distributed`` at its top and is loaded by ``_cli`` on demand only (``importlib``),
because importing it costs about 0.5 s that every other use of the library would pay (measured with
``python -X importtime``: distributed 0.36–0.50 s on this machine).

References
----------
M. Rocklin, "Dask: Parallel computation with blocked algorithms and task scheduling", Proceedings of the
14th Python in Science Conference, 126–132, 2015. :DOI:`10.25080/Majora-7b98e3ed-013`
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import os
import socket
import sys
import threading
import time
from typing import Callable, Iterator

import cv2
from distributed import Client, as_completed
from distributed.comm import connect as comm_connect
from distributed.exceptions import WorkerStartTimeoutError
from distributed.security import Security

from ._cli import process_image
from ._options import UsageError, scheduler_problem

__all__ = ["connect", "wait_for_workers", "map_dask", "segment_task", "RETRIES", "WAIT_FOR_WORKERS", "NO_WORKERS",
           "DaskError"]

#: Attempts after the first for an image whose error looks transient (could not write, unexpected error).
RETRIES = 2

#: Seconds a batch waits for a first worker to connect to the scheduler before it gives up.
WAIT_FOR_WORKERS = 60.0


def _not_a_lost_result(record: logging.LogRecord) -> bool:
    """Whether a line of Dask's client is shown: all but "Couldn't gather 1 keys, rescheduling ...".

    Dask writes it when a worker holding a result died; the batch runs that image again and says so in its own
    words, so the raw line is not shown (#14 review: it leaked to stderr between the batch's messages).
    """
    return not str(record.msg).startswith("Couldn't gather")


logging.getLogger("distributed.client").addFilter(_not_a_lost_result)
#: Seconds between two "waiting for workers" lines.
_WAIT_STEP = 10.0

#: Seconds a running batch goes without any worker connected (all died, or were stopped) before it says so on
#: stderr; it then waits for one (Dask keeps the tasks), and says so once more when a worker is back.
NO_WORKERS = 30.0
#: Seconds between two looks at the scheduler's workers while a batch runs.
_WATCH_STEP = 1.0


class DaskError(UsageError):
    """The scheduler cannot be reached (reported as a usage error)."""


#: Seconds a client whose start failed may take to close (it has nothing to save).
_CLOSE_TIMEOUT = 5.0

#: What to give instead of an address where something listens that is not a Dask scheduler.
_PORT_HINT = "give tcp://HOST:PORT with the scheduler's port (8786 unless started with another --port), " \
             "not the dashboard's (8787)"


class BatchClient(Client):
    """A Client that closes itself when it could not start, whatever the reason (the scheduler's log names it).

    distributed's Client closes itself when its start fails with an OSError only; after any other error (a
    ValueError for an address scheme it does not know, Ctrl-C, ...) the half-made client stays open, and once
    garbage-collected (at exit at the latest) tries to close for twice its timeout (40 s for ours), then prints
    "Exception ignored in: <function Client.__del__ ...> ... TimeoutError" (distributed 2026.8).
    """

    def start(self, **kwargs):
        try:
            super().start(**kwargs)
        except BaseException:
            with contextlib.suppress(Exception):
                self.close(timeout=_CLOSE_TIMEOUT)
            raise


def _handshake(address: str, timeout: float) -> None:
    """Open one connection to the scheduler at ``address``, exchange Dask's handshake and close it.

    Raises TimeoutError when no handshake came back within ``timeout`` seconds overall: distributed's own
    ``connect`` waits for the other end's handshake with no limit, so a Client given the address of a server
    that listens but does not speak Dask's protocol (``tcp://HOST:8787``, the dashboard's port) would never
    return. Runs on an event loop of its own in a thread of its own (the caller may run a loop: a notebook).
    """
    async def shake() -> None:
        comm = await asyncio.wait_for(comm_connect(address, timeout=timeout,
                                                   **Security().get_connection_args("client")), timeout)
        await comm.close()

    outcome: list[BaseException | None] = [None]

    def run() -> None:
        try:
            asyncio.run(shake())
        except BaseException as error:  # noqa: BLE001 - raised again in the caller's thread
            outcome[0] = error

    thread = threading.Thread(target=run, name="dask-handshake", daemon=True)
    thread.start()
    thread.join(timeout + _CLOSE_TIMEOUT)  # asyncio.wait_for ends it after timeout; this is a backstop
    if thread.is_alive():
        raise TimeoutError(f"no handshake in {timeout:g} s")
    if outcome[0] is not None:
        raise outcome[0]


def connect(address: str, timeout: float = 20.0, wait: float | None = None) -> Client:
    """A client of the scheduler at ``address`` (``tcp://HOST:PORT``) with a worker connected to it.

    The address's scheme is checked first (:func:`._options.scheduler_problem`: ``http://``, the dashboard's
    address, is refused at once), then Dask's handshake is tried within ``timeout`` seconds
    (:func:`_handshake`), and only then the client made (one that failed is closed, never left half-open).
    Waits for a first worker up to ``wait`` seconds (default :data:`WAIT_FOR_WORKERS`), saying so on stderr
    (:func:`wait_for_workers`). Raises DaskError in plain words when the address is not a scheduler's, the
    scheduler cannot be reached or no worker comes.
    """
    problem = scheduler_problem(address)
    if problem:
        raise DaskError(f"--scheduler {problem}")
    try:
        host, _, port = address.rpartition("://")[2].rpartition(":")
        if host and port.isdigit():  # refused at once when nothing listens (Client would retry until timeout)
            socket.create_connection((host.strip("[]"), int(port)), timeout=timeout).close()
        try:
            _handshake(address, timeout)
        except TimeoutError:  # asyncio's: something listens there but sends nothing back
            raise DaskError(f"no Dask scheduler answered at {address} in {timeout:g} s: something listens there but "
                            f"does not speak Dask's protocol (the dashboard's port?); {_PORT_HINT}") from None
        client = BatchClient(address, timeout=timeout, set_as_default=False)
    except DaskError:
        raise
    except Exception as error:  # noqa: BLE001 - OSError, ValueError (no port), a comm backend that cannot load, ...
        detail = str(error) or type(error).__name__
        raise DaskError(f"cannot reach the Dask scheduler at {address} ({detail}); start one with "
                        "'dask scheduler' and workers with 'dask worker ADDRESS' (see the README)") from None
    try:
        wait_for_workers(client, address, WAIT_FOR_WORKERS if wait is None else wait)
    except BaseException:
        client.close()
        raise
    return client


def wait_for_workers(client: Client, address: str, wait: float) -> int:
    """The number of workers connected to ``client``'s scheduler, once there is at least one.

    While there is none, says so on stderr every ten seconds, whatever the progress setting ("waiting for
    workers at tcp://...: 0 connected"), since a batch would otherwise wait in silence; after ``wait`` seconds
    raises DaskError naming the scheduler and how to start a worker.
    """
    connected = len(client.scheduler_info(n_workers=-1)["workers"])
    deadline = time.monotonic() + wait
    while not connected:
        left = deadline - time.monotonic()
        if left <= 0:
            raise DaskError(f"no Dask worker connected to the scheduler at {address} in {wait:g} s; start workers "
                            f"with 'PYTHONPATH=$PWD .venv/bin/dask worker {address}' in the checkout (see the README)")
        print(f"waiting for workers at {address}: 0 connected (giving up in {left:.0f} s)", file=sys.stderr,
              flush=True)
        try:
            client.wait_for_workers(1, timeout=max(0.1, min(_WAIT_STEP, left)))
        except (WorkerStartTimeoutError, TimeoutError):
            continue
        connected = len(client.scheduler_info(n_workers=-1)["workers"])
        print(f"{connected} worker{'s' * (connected != 1)} connected at {address}", file=sys.stderr, flush=True)
    return connected


def _transient(row: dict) -> bool:
    message = row.get("message", "")
    return row.get("status") == "error" and (message.startswith("could not write")
                                             or message.startswith("unexpected error"))


def segment_task(task: dict) -> dict:
    """One image on a worker: :func:`process_image`, retried when the error may be transient."""
    cv2.setNumThreads(1)  # one image per worker thread; results do not depend on it (tests/test_determinism.py)
    row = process_image(task)
    for _ in range(RETRIES):
        if not _transient(row):
            break
        row = process_image(task)
    return row


def _key(prefix: str, item: dict) -> str:
    digest = hashlib.sha256(repr(sorted(item.items())).encode("utf-8", "surrogateescape")).hexdigest()[:16]
    return f"{prefix}-{digest}"


def _connected(client: Client) -> int | None:
    """The number of workers connected to the scheduler; None when the scheduler did not answer."""
    try:
        return len(client.scheduler_info(n_workers=-1)["workers"])
    except Exception:  # noqa: BLE001 - a scheduler gone or slow: the batch's own calls report it
        return None


@contextlib.contextmanager
def _watch_workers(client: Client, address: str, quiet_for: float | None = None) -> Iterator[None]:
    """While the block runs, say on stderr when no worker has been connected for ``quiet_for`` seconds.

    Default :data:`NO_WORKERS`. Once per spell without workers: that the scheduler at ``address`` has none, that
    the batch waits for one and how to start one; once a worker is back, that the batch goes on. Asks the
    scheduler every :data:`_WATCH_STEP` seconds from a thread of its own (Dask's public ``scheduler_info``).
    """
    quiet_for = NO_WORKERS if quiet_for is None else quiet_for
    stop = threading.Event()

    def watch() -> None:
        last_seen, said = time.monotonic(), False
        while not stop.wait(min(_WATCH_STEP, max(0.05, quiet_for / 4))):
            connected = _connected(client)
            if connected is None:
                continue
            if connected:
                last_seen = time.monotonic()
                if said:
                    print(f"{connected} worker{'s' * (connected != 1)} connected again to the scheduler at "
                          f"{address}; the batch goes on", file=sys.stderr, flush=True)
                    said = False
            elif not said and time.monotonic() - last_seen >= quiet_for:
                print(f"the Dask scheduler at {address} has had no workers for {quiet_for:g} s (they stopped or "
                      f"died); the batch waits for one: start one with 'dask worker {address}' (in the checkout: "
                      f"'PYTHONPATH=$PWD .venv/bin/dask worker {address}'), or press Ctrl-C to stop",
                      file=sys.stderr, flush=True)
                said = True

    thread = threading.Thread(target=watch, name="dask-worker-watch", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(timeout=_WATCH_STEP + 5.0)


def map_dask(client: Client, function: Callable[[dict], dict], items: list[dict],
             failed: Callable[[dict, BaseException], dict]) -> Iterator[tuple[int, dict]]:
    """``(index, function(item))`` as the cluster finishes them; ``failed(item, error)`` where a task died.

    Each item is one task (a few hundred bytes: paths and the recipe). ``pure=False`` with a key from the
    item's content: the same item submitted twice in one batch would be one task. While it runs,
    :func:`_watch_workers` says on stderr when the scheduler has had no worker for :data:`NO_WORKERS` seconds.
    """
    futures = {}
    # the workers run in other folders (or on other machines, where the shared file system has the same paths)
    items = [item | {key: os.path.abspath(item[key]) for key in ("path", "out_dir") if key in item} for item in items]
    for i, item in enumerate(items):
        future = client.submit(function, item, key=_key(getattr(function, "__name__", "task"), item), pure=False)
        futures[future] = i
    address = client.scheduler.address
    try:
        with _watch_workers(client, address):  # all workers gone: said after NO_WORKERS s, not waited in silence
            for future in as_completed(futures, loop=client.loop):
                i = futures[future]
                try:
                    result = future.result()
                except Exception as error:  # KilledWorker (the image took down workers repeatedly), lost data, ...
                    result = failed(items[i], error)
                future.release()
                yield i, result
    finally:
        for future in futures:
            future.release()
