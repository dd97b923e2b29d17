"""Recorded tasks and batched records on a durable journal, as ordinary tasks on the running loop.

- :class:`TaskRecorder`: run each task id to success at most once, and always know its state.
- :class:`Recorder`: save records without waiting for the storage; an actor stores them in batches.
- :class:`JournalStorage`: the embedded durable storage, an append-only journal written with ring ops.
- :class:`MemoryStorage`, and the :class:`Storage` protocol for writing others.

See docs/recorder.md.
"""
from .batcher import (
    NotStored,
    Recorder,
    RecorderClosed,
    RecorderError,
    RecorderFull,
    RecorderStats,
)
from .journal import JournalCorrupt, NotAJournal, Scan
from .journal_storage import JournalLocked, JournalStorage
from .storage import MemoryStorage, Storage, StorageBroken, StorageClosed, StorageError
from .tasks import Launch, State, TaskId, TaskInfo, TaskRecorder

__all__ = [
    "TaskRecorder", "State", "Launch", "TaskInfo", "TaskId",
    "Recorder", "RecorderStats", "RecorderError", "RecorderFull", "RecorderClosed", "NotStored",
    "Storage", "MemoryStorage", "JournalStorage", "Scan",
    "StorageError", "StorageBroken", "StorageClosed", "JournalLocked", "JournalCorrupt", "NotAJournal",
]
