"""Worker processes for work on many files at once: each loads what it needs once (the
model, the face finder), then takes one file at a time.

    pool = WorkerPool(jobs, setup, (weights, ...), task)
    for item, outcome in pool.map(items):   # in the order of `items`
        ...                                 # outcome: task's result, or a WorkerError

`setup(*args)` runs once in each worker and returns its state; `task(state, item)` runs
there per item. Both must be module-level functions (workers are started fresh, with
'spawn': nothing half-initialised is copied from this process). A worker that dies
(killed, out of memory, a crash in a C library) costs only the item it held: that item
gets a WorkerError naming how the worker ended, a new worker takes its place, and the
rest goes on. `submit` is safe from many threads (the web service's requests).
"""

from __future__ import annotations

import collections
import logging
import multiprocessing as mp
import os
import signal
import threading
import traceback
from concurrent.futures import Future
from multiprocessing.connection import wait

logger = logging.getLogger(__name__)


class WorkerError(RuntimeError):
    """An item a worker could not finish: its exception, or the worker's death."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


def usable_cores() -> int:
    """The cores this process may run on (its CPU affinity, not the machine's count)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return max(1, os.cpu_count() or 1)


#: the cores this process may use, when set: the worker pool gives each worker its share
#: (ONNX Runtime's threads and the face finder's spare core follow it)
CORES_VARIABLE = "MESONET_CORES"


def process_cores() -> int:
    """This process's share of the cores: MESONET_CORES in a pool's worker, else all
    usable ones."""
    try:
        return max(1, int(os.environ[CORES_VARIABLE]))
    except (KeyError, ValueError):
        return usable_cores()


def count_option(name: str):
    """The argparse type of a count of worker processes (--jobs, --workers): a positive
    whole number, with an error naming the option."""
    import argparse

    def parse(text) -> int:
        try:
            value = int(str(text), 10)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{name} must be a whole number of worker "
                                             f"processes, not {text!r}") from None
        if value < 1:
            raise argparse.ArgumentTypeError(f"{name} must be at least 1 (got {value}); 1 "
                                             f"works in this process, one file at a time")
        return value

    return parse


parse_jobs = count_option("--jobs")


def _how_it_ended(exitcode) -> str:
    if exitcode is None:
        return "the worker process stopped answering"
    if exitcode < 0:
        try:
            name = signal.Signals(-exitcode).name
        except ValueError:
            name = f"signal {-exitcode}"
        hint = " (out of memory?)" if -exitcode == signal.SIGKILL else ""
        return f"the worker process was killed by {name}{hint} while on this file"
    return f"the worker process exited with status {exitcode} while on this file"


def _follow_parent() -> None:
    """End this worker as soon as its parent is gone (killed with -9, say): no orphan
    goes on using a core for a batch nobody waits for."""
    parent = os.getppid()

    def watch():
        import time

        while os.getppid() == parent:
            time.sleep(0.5)
        os._exit(1)

    threading.Thread(target=watch, name="mesonet-parent-watch", daemon=True).start()


def _worker_main(conn, setup, setup_args, task, threads):
    """A worker: set up once, then answer (key, item) with (key, ok, result or reason)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle
    _follow_parent()
    if threads:  # this worker's share of the cores (scoring and faces read it)
        os.environ[CORES_VARIABLE] = str(threads)
    try:
        state = setup(*setup_args)
    except BaseException as e:  # the parent reports it; nothing else can be done here
        conn.send(("setup", False, f"{type(e).__name__}: {e}"))
        return
    conn.send(("setup", True, os.getpid()))
    while True:
        try:
            message = conn.recv()
        except (EOFError, OSError):
            return
        if message is None:  # done
            return
        key, item = message
        try:
            answer = (key, True, task(state, item))
        except Exception as e:  # the item fails; the worker goes on
            logger.debug("worker task failed:\n%s", traceback.format_exc())
            answer = (key, False, f"{type(e).__name__}: {e}")
        try:
            conn.send(answer)
        except (OSError, ValueError):  # the parent is gone
            return
        except Exception as e:  # an answer that cannot be pickled
            conn.send((key, False, f"the worker's answer could not be sent back: {e}"))


def pool_size(jobs: int, n_items: int) -> int:
    """Worker processes worth starting for n_items with --jobs `jobs`: at most one per two
    items (starting a worker, which loads the model and the face finder, costs about as
    much as one file: two photos are done sooner in the caller's process). 1 or less: none,
    the caller's process does the work."""
    return min(jobs, n_items // 2)


def run_each(items, jobs: int, setup, setup_args: tuple, task, state=None, label=str):
    """(item, task's result or WorkerError) for each item, in order: in a WorkerPool of
    pool_size(jobs, len(items)) workers, or, when that is 1 or less, in this process (with
    `state`, or setup's)."""
    items = list(items)
    jobs = pool_size(jobs, len(items))
    if jobs <= 1:
        state = setup(*setup_args) if state is None and items else state
        for item in items:
            try:
                yield item, task(state, item)
            except Exception as e:  # as a worker would report it
                logger.debug("task failed:\n%s", traceback.format_exc())
                yield item, WorkerError(f"{type(e).__name__}: {e}")
        return
    with WorkerPool(jobs, setup, setup_args, task, label=label) as pool:
        yield from pool.map(items)


class _Worker:
    def __init__(self, ctx, setup, setup_args, task, threads):
        self.conn, child = ctx.Pipe()
        self.process = ctx.Process(target=_worker_main, name="mesonet-worker", daemon=True,
                                   args=(child, setup, setup_args, task, threads))
        self.process.start()
        child.close()
        self.ready = False
        self.job = None  # (key, future) while busy


class WorkerPool:
    """`jobs` worker processes, each set up once by `setup(*setup_args)`, running
    `task(state, item)` per item. threads: ONNX Runtime threads per worker (default: the
    usable cores shared out, at least 1). label: an item's name in the debug log."""

    #: a worker that dies this many times in a row before being ready is not restarted
    MAX_SETUP_FAILURES = 3

    def __init__(self, jobs: int, setup, setup_args: tuple, task, threads: int | None = None,
                 label=str):
        if jobs < 1:
            raise ValueError(f"jobs must be at least 1, got {jobs}")
        self.jobs = jobs
        self._label = label  # item -> text, for the debug log
        self._spec = (setup, setup_args, task,
                      threads or max(1, usable_cores() // jobs))
        self._ctx = mp.get_context("spawn")
        self._lock = threading.Lock()
        self._pending: collections.deque = collections.deque()
        self._wake_r, self._wake_w = os.pipe()
        self._closed = False
        self._failure: str | None = None
        self._setup_failures = 0
        self._next_key = 0
        self._workers = [self._start() for _ in range(jobs)]
        self._thread = threading.Thread(target=self._dispatch, name="mesonet-pool", daemon=True)
        self._thread.start()

    def _start(self) -> _Worker:
        return _Worker(self._ctx, *self._spec)

    # ---------------------------------------------------------------- the caller's side

    def submit(self, item) -> Future:
        """Queue an item; its future gives the task's result or raises WorkerError."""
        future: Future = Future()
        with self._lock:
            if self._closed:
                raise RuntimeError("the worker pool is closed")
            if self._failure:
                future.set_exception(WorkerError(self._failure))
                return future
            self._pending.append((self._next_key, item, future))
            self._next_key += 1
        os.write(self._wake_w, b"x")
        return future

    def map(self, items, window: int | None = None):
        """(item, result or WorkerError) for each item, in the order given; at most
        `window` items (default: 4 per worker) submitted ahead of the one awaited."""
        items = iter(items)
        window = window or 4 * self.jobs
        queued: collections.deque = collections.deque()
        for item in items:
            queued.append((item, self.submit(item)))
            if len(queued) >= window:
                break
        while queued:
            item, future = queued.popleft()
            try:
                outcome = future.result()
            except WorkerError as e:
                outcome = e
            nxt = next(items, _END)
            if nxt is not _END:
                queued.append((nxt, self.submit(nxt)))
            yield item, outcome

    def close(self) -> None:
        """Stop the workers (what they hold is abandoned) and the dispatcher."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
        os.write(self._wake_w, b"x")
        self._thread.join(timeout=10)
        for w in self._workers:
            try:
                w.conn.send(None)
            except (OSError, ValueError):
                pass
        for w in self._workers:
            w.process.join(timeout=5)
            if w.process.is_alive():
                w.process.kill()
                w.process.join(timeout=5)
        os.close(self._wake_r)
        os.close(self._wake_w)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # ---------------------------------------------------------------- the dispatcher

    def _dispatch(self) -> None:
        while True:
            with self._lock:
                if self._closed:
                    break
                for i, w in enumerate(self._workers):
                    if w.ready and w.job is None and self._pending:
                        key, item, future = self._pending.popleft()
                        if not future.set_running_or_notify_cancel():
                            continue
                        w.job = (key, future)
                        logger.debug("worker %d took %s", w.process.pid, self._label(item))
                        try:
                            w.conn.send((key, item))
                        except (OSError, ValueError) as e:  # it died just now: seen below
                            logger.debug("sending to a worker failed: %s", e)
            waitables = [self._wake_r]
            for w in self._workers:
                if not w.conn.closed:
                    waitables += [w.conn, w.process.sentinel]
            ready = wait(waitables)
            if self._wake_r in ready:
                os.read(self._wake_r, 4096)
            for i, w in enumerate(list(self._workers)):
                died = w.process.sentinel in ready
                if w.conn in ready:
                    try:
                        message = w.conn.recv()
                    except (EOFError, OSError):
                        died = True
                    else:
                        self._answer(w, *message)
                if died:
                    self._replace(i, w)

    def _answer(self, w: _Worker, key, ok, value) -> None:
        if key == "setup":
            if ok:
                w.ready = True
                self._setup_failures = 0
            else:
                self._fail(f"a worker could not start: {value}")
            return
        _, future = w.job
        w.job = None
        if ok:
            future.set_result(value)
        else:
            future.set_exception(WorkerError(value))

    def _replace(self, i: int, w: _Worker) -> None:
        w.process.join(timeout=5)
        reason = _how_it_ended(w.process.exitcode)
        w.conn.close()
        if w.job is not None:
            logger.debug("%s", reason)
            w.job[1].set_exception(WorkerError(reason))
        if not w.ready:
            self._setup_failures += 1
            if self._setup_failures >= self.MAX_SETUP_FAILURES:
                self._fail(f"workers keep dying before they are ready ({reason})")
                return
        with self._lock:
            if not self._closed and not self._failure:
                self._workers[i] = self._start()

    def _fail(self, reason: str) -> None:
        """Nothing can be done: every queued item fails with the reason."""
        logger.error("%s", reason)
        with self._lock:
            self._failure = reason
            pending = list(self._pending)
            self._pending.clear()
        for _, _, future in pending:
            if not future.done():
                future.set_exception(WorkerError(reason))
        for w in self._workers:
            if w.job is not None and not w.job[1].done():
                w.job[1].set_exception(WorkerError(reason))
                w.job = None


_END = object()
