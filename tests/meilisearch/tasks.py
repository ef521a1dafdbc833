"""Meilisearch's asynchronous task model: writes answer ``202`` with a summarized task, then run in order.

Docs: reference/api/tasks (task object, statuses ``enqueued`` → ``processing`` → ``succeeded``/``failed``,
details per type, ``GET /tasks`` filters and ``from``/``next`` pagination, most recent first),
learn/async/asynchronous_operations. Task uids are global and sequential; tasks run one at a time in uid order,
which keeps every index's writes in the order they were sent. A failed task carries the error object and
changes nothing.

The test controls: with automatic processing (the default) a worker thread runs tasks as soon as they are
enqueued, like Meilisearch; ``pause()`` holds them ``enqueued``, ``begin_next()`` moves one to ``processing``
and leaves it there, ``process_all()`` runs everything pending in the caller's thread, and ``fail_next()``
makes the next tasks fail with a chosen error. Simplification: each task is its own batch (``batchUid``).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from tests.meilisearch.errors import JsonObject, MeiliError
from tests.meilisearch.store import now, rfc3339

if TYPE_CHECKING:
    import datetime as dt
    from collections.abc import Callable

TASK_STATUSES = ["enqueued", "processing", "succeeded", "failed", "canceled"]
TASK_TYPES = [
    "documentAdditionOrUpdate",
    "documentEdition",
    "documentDeletion",
    "settingsUpdate",
    "indexCreation",
    "indexDeletion",
    "indexUpdate",
    "indexSwap",
    "taskCancelation",
    "taskDeletion",
    "dumpCreation",
    "snapshotCreation",
    "upgradeDatabase",
]
_UNFINISHED = {"enqueued", "processing"}


def iso8601_duration(seconds: float) -> str:
    text = f"{seconds:.6f}".rstrip("0").rstrip(".")
    return f"PT{text}S"


@dataclass
class Task:
    uid: int
    index_uid: str | None
    kind: str
    details: JsonObject
    run: Callable[[], JsonObject]
    """Applies the write and returns the details of the finished task; raises ``MeiliError`` to fail it."""
    failed_details: JsonObject
    enqueued_at: dt.datetime = field(default_factory=now)
    status: str = "enqueued"
    batch_uid: int | None = None
    error: JsonObject | None = None
    started_at: dt.datetime | None = None
    finished_at: dt.datetime | None = None

    def view(self) -> JsonObject:
        duration = None
        if self.started_at and self.finished_at:
            duration = iso8601_duration((self.finished_at - self.started_at).total_seconds())
        return {
            "uid": self.uid,
            "batchUid": self.batch_uid,
            "indexUid": self.index_uid,
            "status": self.status,
            "type": self.kind,
            "canceledBy": None,
            "details": self.details,
            "error": self.error,
            "duration": duration,
            "enqueuedAt": rfc3339(self.enqueued_at),
            "startedAt": rfc3339(self.started_at) if self.started_at else None,
            "finishedAt": rfc3339(self.finished_at) if self.finished_at else None,
        }

    def summary(self) -> JsonObject:
        return {
            "taskUid": self.uid,
            "indexUid": self.index_uid,
            "status": "enqueued",
            "type": self.kind,
            "enqueuedAt": rfc3339(self.enqueued_at),
        }


class TaskQueue:
    def __init__(self, lock: threading.RLock, *, auto_process: bool) -> None:
        self._changed = threading.Condition(lock)
        self.tasks: dict[int, Task] = {}
        self._next_uid = 0
        self._next_batch_uid = 0
        self._paused = not auto_process
        self._stopping = False
        self._injected_failures: list[MeiliError] = []
        self._worker = threading.Thread(target=self._work, name="fake-meilisearch-tasks", daemon=True)

    def start(self) -> None:
        self._worker.start()

    def stop(self) -> None:
        with self._changed:
            self._stopping = True
            self._changed.notify_all()
        if self._worker.is_alive():
            self._worker.join(timeout=5)

    def enqueue(
        self,
        index_uid: str | None,
        kind: str,
        details: JsonObject,
        run: Callable[[], JsonObject],
        failed_details: JsonObject | None = None,
    ) -> Task:
        with self._changed:
            task = Task(self._next_uid, index_uid, kind, details, run, failed_details or details)
            self.tasks[task.uid] = task
            self._next_uid += 1
            self._changed.notify_all()
            return task

    def pause(self) -> None:
        with self._changed:
            self._paused = True

    def resume(self) -> None:
        with self._changed:
            self._paused = False
            self._changed.notify_all()

    def fail_next(self, count: int, error: MeiliError) -> None:
        with self._changed:
            self._injected_failures.extend([error] * count)

    def begin_next(self) -> Task | None:
        """Move the oldest enqueued task to ``processing`` without finishing it."""
        with self._changed:
            task = next((task for task in self.tasks.values() if task.status == "enqueued"), None)
            if task is not None:
                self._start(task)
                self._changed.notify_all()
            return task

    def process_all(self) -> list[int]:
        """Run every unfinished task now, in order; returns their uids."""
        finished: list[int] = []
        with self._changed:
            while (task := self._next_unfinished()) is not None:
                self._execute(task)
                finished.append(task.uid)
            self._changed.notify_all()
        return finished

    def wait_until_idle(self, timeout: float) -> bool:
        with self._changed:
            return self._changed.wait_for(lambda: self._next_unfinished() is None, timeout=timeout)

    def _next_unfinished(self) -> Task | None:
        return next((task for task in self.tasks.values() if task.status in _UNFINISHED), None)

    def _start(self, task: Task) -> None:
        task.status = "processing"
        task.started_at = now()
        task.batch_uid = self._next_batch_uid
        self._next_batch_uid += 1

    def _execute(self, task: Task) -> None:
        if task.status == "enqueued":
            self._start(task)
        failure = self._injected_failures.pop(0) if self._injected_failures else None
        if failure is None:
            try:
                task.details = task.run()
                task.status = "succeeded"
            except MeiliError as error:
                failure = error
        if failure is not None:
            task.status = "failed"
            task.error = failure.body()
            task.details = task.failed_details
        task.finished_at = now()

    def _work(self) -> None:
        with self._changed:
            while not self._stopping:
                task = None if self._paused else self._next_unfinished()
                if task is None:
                    self._changed.wait()
                    continue
                self._execute(task)
                self._changed.notify_all()

    def select(self, *, statuses: set[str], types: set[str], index_uids: set[str], uids: set[int]) -> list[Task]:
        """Tasks matching every given filter (an empty set means any), most recent first."""
        with self._changed:
            return [
                task
                for task in sorted(self.tasks.values(), key=lambda task: -task.uid)
                if (not statuses or task.status in statuses)
                and (not types or task.kind in types)
                and (not index_uids or task.index_uid in index_uids)
                and (not uids or task.uid in uids)
            ]
