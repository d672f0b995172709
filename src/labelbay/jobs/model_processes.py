"""Model processes: where the embedded server runs models, so a crash in native code (OpenCV, ONNX
Runtime, a user's model) takes down one process, never the API.

`ModelProcesses` supervises up to `size` child processes, started with `spawn` (a fresh
interpreter: none of the API's threads, locks or sockets) when work arrives and kept for the next.
Each child builds its own `Runtime` from the same settings and runs calls `fn(runtime, *args)` one
at a time; `fn` is a module-level function (it travels by name). One supervising thread per child
feeds it calls from a shared queue and watches it: a child that dies mid-call is replaced before
the next call, and the call's future fails with `ModelProcessCrashed`, which says how it died. What
to do then (retry, split, give up) is the caller's decision.
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import os
import pickle
import queue
import signal
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from typing import TYPE_CHECKING, Any

from labelbay.config import Settings
from labelbay.inference.base import Model, ModelSpec, RGBImage
from labelbay.inference.detections import Detections

if TYPE_CHECKING:
    from labelbay.runtime import Runtime
    from labelbay.services.model_cache import ModelManager

log = logging.getLogger(__name__)

_POLL_S = 0.2  # how often a supervisor checks that its child is alive while it works


class ModelProcessCrashed(RuntimeError):
    """The child process running a call died before answering."""

    def __init__(self, exitcode: int | None) -> None:
        self.exitcode = exitcode
        super().__init__(f"the model process crashed: {describe_exit(exitcode)}")


def describe_exit(exitcode: int | None) -> str:
    """'signal 11 (SIGSEGV)' for a process killed by a signal, else 'exit code N'."""
    if exitcode is not None and exitcode < 0:
        try:
            name = signal.Signals(-exitcode).name
        except ValueError:
            return f"signal {-exitcode}"
        return f"signal {-exitcode} ({name})"
    return f"exit code {exitcode}"


@dataclass
class _Call:
    fn: Callable[..., Any]
    args: tuple[Any, ...]
    future: Future[Any] = field(default_factory=Future)


class ModelProcesses:
    """A supervised pool of model processes. Thread-safe; `call` never blocks."""

    def __init__(self, settings: Settings, *, size: int) -> None:
        self._settings = settings
        self._size = max(1, size)
        self._calls: queue.SimpleQueue[_Call | None] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._supervisors: list[threading.Thread] = []
        self._idle = 0
        self._children: set[BaseProcess] = set()
        self._closed = False
        self._context = multiprocessing.get_context("spawn")

    @property
    def size(self) -> int:
        return self._size

    def call(self, fn: Callable[..., Any], *args: Any) -> Future[Any]:
        """Run `fn(runtime, *args)` in a model process; its result (or exception) on the future."""
        item = _Call(fn, args)
        with self._lock:
            if self._closed:
                raise RuntimeError("the model processes are shut down")
            self._calls.put(item)
            # One more child only when every running one is busy: a quiet server keeps one.
            if self._idle == 0 and len(self._supervisors) < self._size:
                supervisor = threading.Thread(
                    target=self._supervise,
                    name=f"labelbay-model-process-{len(self._supervisors)}",
                    daemon=True,
                )
                self._supervisors.append(supervisor)
                supervisor.start()
            else:
                self._idle = max(0, self._idle - 1)
        return item.future

    def children(self) -> list[int]:
        """The process ids of the live children (for tests and `/metrics`)."""
        with self._lock:
            return [child.pid for child in self._children if child.pid and child.is_alive()]

    def close(self, *, timeout_s: float = 10.0) -> None:
        """Stop taking calls, cancel those not started, let running ones end (up to `timeout_s`)
        and stop the children."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            supervisors = list(self._supervisors)
        while True:
            try:
                pending = self._calls.get_nowait()
            except queue.Empty:
                break
            if pending is not None:
                pending.future.cancel()
        for _ in supervisors:
            self._calls.put(None)
        for supervisor in supervisors:
            supervisor.join(timeout=timeout_s)
        with self._lock:
            leftover = list(self._children)
        for child in leftover:
            if child.is_alive():
                child.terminate()
                child.join(timeout=5)

    # --- the supervising side -------------------------------------------------------------

    def _supervise(self) -> None:
        child: BaseProcess | None = None
        conn: Connection | None = None
        try:
            while True:
                item = self._calls.get()
                if item is None:
                    return
                if not item.future.set_running_or_notify_cancel():
                    self._went_idle()
                    continue
                if child is None or not child.is_alive():
                    self._forget(child)
                    child, conn = self._start_child()
                assert conn is not None
                outcome = self._run(child, conn, item)
                if outcome is not None:  # the child died: the next call gets a fresh one
                    self._forget(child)
                    child, conn = None, None
                    item.future.set_exception(outcome)
                self._went_idle()
        finally:
            if child is not None:
                self._stop_child(child, conn)

    def _went_idle(self) -> None:
        with self._lock:
            self._idle += 1

    def _run(self, child: BaseProcess, conn: Connection, item: _Call) -> Exception | None:
        """Send one call and wait for its answer; the crash to report if the child died."""
        try:
            conn.send((item.fn, item.args))
        except (OSError, ValueError):
            child.join(timeout=5)
            return ModelProcessCrashed(child.exitcode)
        while True:
            try:
                if conn.poll(_POLL_S):
                    status, value = conn.recv()
                    break
            except (EOFError, OSError):
                child.join(timeout=5)
                return ModelProcessCrashed(child.exitcode)
            if not child.is_alive():
                child.join(timeout=5)
                return ModelProcessCrashed(child.exitcode)
        if status == "ok":
            item.future.set_result(value)
        else:
            item.future.set_exception(value)
        return None

    def _start_child(self) -> tuple[BaseProcess, Connection]:
        ours, theirs = self._context.Pipe()
        child = self._context.Process(
            target=_child_main, args=(self._settings, theirs), name="labelbay-model", daemon=True
        )
        child.start()
        theirs.close()
        with self._lock:
            self._children.add(child)
        log.info("model process %s started", child.pid)
        return child, ours

    def _forget(self, child: BaseProcess | None) -> None:
        if child is None:
            return
        if not child.is_alive() and child.exitcode != 0:
            log.warning("model process %s ended: %s", child.pid, describe_exit(child.exitcode))
        with self._lock:
            self._children.discard(child)

    def _stop_child(self, child: BaseProcess, conn: Connection | None) -> None:
        if conn is not None:
            with contextlib.suppress(OSError, ValueError):
                conn.send(None)
        child.join(timeout=5)
        if child.is_alive():
            child.terminate()
            child.join(timeout=5)
        self._forget(child)


# --- the child's side ----------------------------------------------------------------------


def _child_main(settings: Settings, conn: Connection) -> None:
    """A model process: build a runtime, then answer calls until told to stop or orphaned."""
    from labelbay.runtime import build_runtime  # here: the parent's import graph stays light

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the server's to handle
    runtime = build_runtime(settings)
    try:
        while True:
            try:
                message = conn.recv()
            except (EOFError, OSError):
                return  # the server is gone
            if message is None:
                return
            fn, args = message
            try:
                answer: tuple[str, Any] = ("ok", fn(runtime, *args))
            except Exception as exc:
                answer = ("error", _picklable(exc))
            conn.send(answer)
    finally:
        runtime.close()


def _picklable(exc: Exception) -> Exception:
    """`exc` if it survives the trip back to the server, else a RuntimeError saying what it was."""
    try:
        pickle.loads(pickle.dumps(exc))  # noqa: S301 - our own bytes, made one line above
    except Exception:
        return RuntimeError(f"{type(exc).__name__}: {exc}")
    return exc


def default_size() -> int:
    """One model process per core this process may use."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return max(1, os.cpu_count() or 1)


# --- models served by the API (KServe v2), run in the model processes ----------------------

ModelKey = tuple[str, "str | int"]  # ("name", name) for the active version, ("row", id)


@dataclass(frozen=True)
class ServedModel:
    """A model as the API serves it: its spec, and `predict`, which runs in a model process."""

    spec: ModelSpec
    key: ModelKey
    processes: ModelProcesses

    def predict(self, images: Sequence[RGBImage]) -> list[Detections]:
        result: list[Detections] = self.processes.call(_predict, self.key, list(images)).result()
        return result


class ProcessModels:
    """The API's model source: models are loaded and run only in the model processes (the API
    process reads the registry's names, nothing more). `ModelError` and `ModelProcessCrashed`
    come back to the caller as they were raised."""

    def __init__(self, processes: ModelProcesses, registry: ModelManager) -> None:
        self._processes = processes
        self._registry = registry

    def names(self) -> list[str]:
        return self._registry.names()

    def get(self, name: str) -> ServedModel:
        return self._served(("name", name))

    def get_by_id(self, model_version_id: int) -> ServedModel:
        return self._served(("row", model_version_id))

    def _served(self, key: ModelKey) -> ServedModel:
        spec: ModelSpec = self._processes.call(_spec, key).result()
        return ServedModel(spec, key, self._processes)


def _loaded(runtime: Runtime, key: ModelKey) -> Model:
    kind, value = key
    if kind == "row":
        return runtime.models.get_by_id(int(value))
    return runtime.models.get(str(value))


def _spec(runtime: Runtime, key: ModelKey) -> ModelSpec:
    return _loaded(runtime, key).spec


def _predict(runtime: Runtime, key: ModelKey, images: list[RGBImage]) -> list[Detections]:
    return _loaded(runtime, key).predict(images)
