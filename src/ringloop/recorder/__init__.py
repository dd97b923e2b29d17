"""Recorded tasks and batched records on a durable journal, as ordinary tasks on the running loop.

- :class:`TaskRecorder`: run each task id to success at most once, and always know its state.
- :class:`Recorder`: save records without waiting for the storage; an actor stores them in batches.
- :class:`JournalStorage`: the embedded durable storage, an append-only journal written with ring ops.
- :class:`PostgresStorage`: records and task states shared by many processes (asyncpg, imported on first use).
- :class:`MemoryStorage`, and the :class:`Storage` protocol for writing others.

See docs/recorder.md.
"""
from .claims import CLAIM_LOST, Claim, ClaimedTaskRecorder, TaskStateStorage
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
    "TaskStateStorage", "Claim", "ClaimedTaskRecorder", "CLAIM_LOST", "PostgresStorage",
    "StorageError", "StorageBroken", "StorageClosed", "JournalLocked", "JournalCorrupt", "NotAJournal",
]


def __getattr__(name: str) -> object:
    # PostgresStorage needs asyncpg, which only its users must install.
    if name == "PostgresStorage":
        from .postgres import PostgresStorage
        return PostgresStorage
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
