"""The client's upload side: a bounded buffer of finished trajectories, the thread that sends
them in batches that fit the message limit, backoff, and every counter of the agent.

All counters and the buffer share one lock (the buffer's condition), so ``stats()`` is one
consistent picture: ``trajectories_ended = trajectories_sent + buffered + dropped_overflow +
dropped_rejected + dropped_too_large + dropped_at_close``.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from iroko_gym.errors import IrokoError, RemoteError
from iroko_gym.remote.channel import CallFailed, Channel
from iroko_gym.remote.config import ClientConfig
from iroko_gym.remote.protocol import encode_trajectory
from iroko_gym.remote.stubs import pb2
from iroko_gym.remote.trajectory import TrajectoryData

log = logging.getLogger(__name__)

_REQUEST_OVERHEAD = 1024  # client id, version and framing around the trajectories


@dataclass(frozen=True)
class ClientStats:
    """What happened to everything this agent produced (nothing is dropped silently)."""

    actions: int
    trajectories_ended: int
    trajectories_sent: int
    steps_sent: int
    buffered: int
    dropped_overflow: int       # oldest unsent trajectories dropped when the buffer was full
    dropped_rejected: int       # refused by the server as malformed (INVALID_ARGUMENT)
    dropped_too_large: int      # a single trajectory larger than the message limit
    dropped_at_close: int       # still unsent when close() gave up
    send_failures: int          # failed upload attempts (retried)
    model_updates: int
    full_models: int
    version: int
    last_error: str
    # The learner's side, as of the latest report reply (shared by every client of the id).
    learner_steps_trained: int = 0
    learner_stale_dropped: int = 0          # trajectories dropped as stale
    learner_stale_dropped_steps: int = 0
    learner_queued_steps: int = 0
    learner_steps_per_s: float = 0.0


_COUNTERS = ("actions", "trajectories_ended", "trajectories_sent", "steps_sent",
             "dropped_overflow", "dropped_rejected", "dropped_too_large", "dropped_at_close",
             "send_failures", "model_updates", "full_models")


class _Entry:
    """A buffered trajectory; encoded once, by the upload thread, when first sent."""

    __slots__ = ("data", "enqueued", "message", "size")

    def __init__(self, data: TrajectoryData) -> None:
        self.data = data
        self.enqueued = time.monotonic()
        self.message: pb2.Trajectory | None = None
        self.size = 0


class Uploader:
    """Queue, thread, backoff and counters of one :class:`~iroko_gym.remote.client.RemoteAgent`.

    ``have_version()`` is the client's model version for each report, ``on_model(update)``
    receives a newer model from a reply, and ``reinit()`` is called when the server no longer
    knows the client id (it restarted without a checkpoint).
    """

    def __init__(self, config: ClientConfig, channel: Channel, have_version: Callable[[], int],
                 on_model: Callable[[Any], None], reinit: Callable[[], None]) -> None:
        self.config = config
        self._channel = channel
        self._have_version = have_version
        self._on_model = on_model
        self._reinit = reinit
        self._pending: deque[_Entry] = deque()
        self._cond = threading.Condition()
        self._counts = dict.fromkeys(_COUNTERS, 0)
        self._last_error = ""
        self._learner: dict[str, Any] = {}
        self._closing = False
        self._flushing = 0
        self._limit = config.max_message_bytes - _REQUEST_OVERHEAD
        self._stop = threading.Event()  # set when close() gives up on flushing
        self._thread = threading.Thread(target=self._loop, daemon=True,
                                        name=f"remote-upload-{config.client_id}")

    def start(self) -> None:
        self._thread.start()

    # -- counters -------------------------------------------------------------------------

    def count(self, error: str | None = None, **deltas: int) -> None:
        """Add ``deltas`` to the counters (and remember ``error``), under the one lock."""
        with self._cond:
            for name, delta in deltas.items():
                self._counts[name] += delta
            if error is not None:
                self._last_error = error

    def stats(self, version: int) -> ClientStats:
        with self._cond:
            return ClientStats(buffered=len(self._pending), version=version,
                               last_error=self._last_error, **self._counts, **self._learner)

    # -- producer side --------------------------------------------------------------------

    def put(self, data: TrajectoryData) -> None:
        """Buffer a finished trajectory; the oldest is dropped (counted) when full."""
        with self._cond:
            if self._closing:
                raise RemoteError("the agent is closed")
            self._counts["trajectories_ended"] += 1
            if len(self._pending) >= self.config.max_buffered_trajectories:
                self._pending.popleft()
                self._counts["dropped_overflow"] += 1
            self._pending.append(_Entry(data))
            if len(self._pending) >= self.config.batch_size:
                self._cond.notify()

    def flush(self, timeout: float = 30.0) -> bool:
        """Block until every ended trajectory is uploaded (or dropped); False on timeout."""
        deadline = time.monotonic() + timeout
        with self._cond:
            self._flushing += 1  # partial batches go out now, not after flush_interval_s
            self._cond.notify_all()
            try:
                while self._pending:
                    left = deadline - time.monotonic()
                    if left <= 0:
                        return False
                    self._cond.wait(left)
            finally:
                self._flushing -= 1
        return True

    def close(self, timeout: float) -> None:
        """Flush for up to ``timeout``, then stop; what is left counts as dropped_at_close."""
        with self._cond:
            if self._closing:
                return
            self._closing = True
            self._cond.notify_all()
        if self._thread.is_alive():
            self._thread.join(timeout)
        self._stop.set()
        with self._cond:
            self._counts["dropped_at_close"] += len(self._pending)
            self._pending.clear()
            self._cond.notify_all()
        if self._thread.ident is not None:
            self._thread.join()

    # -- the upload thread ----------------------------------------------------------------

    def _next_batch(self) -> list[_Entry] | None:
        """Wait for a full batch, the flush interval, or close; None when done."""
        cfg = self.config
        with self._cond:
            while True:
                if self._pending:
                    age = time.monotonic() - self._pending[0].enqueued
                    if (len(self._pending) >= cfg.batch_size or self._closing
                            or self._flushing or age >= cfg.flush_interval_s):
                        return [self._pending[i]
                                for i in range(min(len(self._pending), cfg.batch_size))]
                    self._cond.wait(cfg.flush_interval_s - age)
                elif self._closing:
                    return None
                else:
                    self._cond.wait()

    def _fit(self, batch: list[_Entry]) -> list[_Entry]:
        """The longest prefix of ``batch`` within the message limit (encoding as needed);
        empty when the first trajectory alone exceeds it (it is then dropped, counted)."""
        total = 0
        for i, entry in enumerate(batch):
            if entry.message is None:
                entry.message = encode_trajectory(entry.data)
                entry.size = entry.message.ByteSize() + 8  # field tag and length
            total += entry.size
            if total > self._limit:
                if i == 0:
                    self._drop_too_large(entry)
                return batch[:i]
        return batch

    def _drop_too_large(self, entry: _Entry) -> None:
        error = (f"a trajectory of {len(entry.data)} steps is {entry.size} bytes encoded, more "
                 f"than the message limit ({self._limit + _REQUEST_OVERHEAD} bytes); cut it "
                 "into shorter trajectories")
        log.warning("dropped: %s", error)
        self._settle([entry], "dropped_too_large", error)

    def _loop(self) -> None:
        backoff = self.config.backoff_initial_s
        while True:
            batch = self._next_batch()
            if batch is None:
                return
            batch = self._fit(batch)
            if not batch:
                continue
            error = self._send(batch)
            if error is None:
                backoff = self.config.backoff_initial_s
                continue
            self.count(error, send_failures=1)
            if self._stop.wait(backoff * (0.5 + random.random())):
                return
            backoff = min(backoff * 2, self.config.backoff_max_s)

    def _send(self, batch: list[_Entry]) -> str | None:
        """Upload ``batch``; None on success (or definitive rejection), else the error."""
        request = pb2.ReportRequest(client_id=self.config.client_id,
                                    have_version=self._have_version(),
                                    trajectories=[e.message for e in batch])
        try:
            reply = self._channel.call("Report", request)
        except CallFailed as exc:
            if exc.code == "NOT_FOUND":  # the server restarted without this learner
                try:
                    self._reinit()
                except IrokoError as init_exc:
                    return str(init_exc)
                return f"NOT_FOUND: {exc.details} (re-initialised)"
            if exc.too_large:  # the server's limit is lower than ours: send less at a time
                if len(batch) == 1:
                    self._drop_too_large(batch[0])
                    return None
                self._limit = max(sum(e.size for e in batch) // 2, 1)
                return f"{exc.code}: {exc.details} (splitting the batch)"
            if exc.retryable:
                return f"{exc.code}: {exc.details}"
            self._settle(batch, "dropped_rejected", f"{exc.code}: {exc.details}")
            return None
        self._settle(batch, "trajectories_sent", None)
        if reply.HasField("learner"):
            progress = reply.learner
            with self._cond:
                self._learner = {f"learner_{name}": getattr(progress, name) for name in (
                    "steps_trained", "stale_dropped", "stale_dropped_steps", "queued_steps",
                    "steps_per_s")}
        if reply.HasField("model"):
            try:
                self._on_model(reply.model)
            except IrokoError as exc:
                self.count(str(exc))
        return None

    def _settle(self, batch: list[_Entry], counter: str, error: str | None) -> None:
        """Remove ``batch`` (still at the front of the buffer unless overflow ate it)."""
        sent = {id(e) for e in batch}
        with self._cond:
            removed = 0
            while self._pending and id(self._pending[0]) in sent:
                self._pending.popleft()
                removed += 1
            self._counts[counter] += removed
            if counter == "trajectories_sent":
                self._counts["steps_sent"] += sum(len(e.data) for e in batch[:removed])
            if error is not None:
                self._last_error = error
            self._cond.notify_all()
