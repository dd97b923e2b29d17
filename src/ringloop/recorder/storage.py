"""What a Recorder stores into: the Storage protocol, its errors, and MemoryStorage.

A storage is any object with two coroutine methods::

    async def save(self, batch: list) -> None     # store every record of batch, or raise
    async def load(self, query) -> list           # the stored records query selects, in save order

and, optionally::

    def encode(self, record) -> object            # check and convert one record, synchronously
    async def replace(self, items: list) -> None  # make items the whole content, atomically
    async def close(self) -> None                 # release resources; idempotent

A Recorder calls a storage from one task, one call at a time, so a storage
needs no locking of its own against the Recorder.  When ``encode`` exists,
``Recorder.save()`` calls it on each record as it is saved, so that a record
the storage cannot hold is refused at the call that made it (not later, in a
batch with a thousand others), and so that changing a record after saving it
does not change what is stored; ``save`` and ``replace`` then receive what
``encode`` returned.  ``load`` returns records, not encoded items.  Every
storage accepts the query ``None``, meaning all records.  A storage raises
StorageBroken when it cannot take writes until reopened, so that retrying is
known to be useless.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol, cast, runtime_checkable

__all__ = ["Storage", "StorageError", "StorageBroken", "StorageClosed", "MemoryStorage", "check_storage", "check_query"]


@runtime_checkable
class Storage(Protocol):
    """The two methods every storage has; see the module docstring for the optional ones."""

    async def save(self, batch: list[Any]) -> None:
        """Store every record of ``batch`` durably, in order, or raise and store none of them for good."""

    async def load(self, query: Any) -> list[Any]:
        """The stored records ``query`` selects, in the order they were saved; ``None`` selects all."""


class StorageError(Exception):
    """A storage could not do what was asked."""


class StorageBroken(StorageError):
    """The storage refuses writes until it is reopened: retrying cannot help.

    Raised, for instance, after a failed fdatasync, when the kernel may
    already have dropped the data that was to be written.
    """


class StorageClosed(StorageError):
    """The storage was closed."""


def check_storage(storage: Any) -> None:
    """Raise TypeError unless ``storage`` has the two methods every storage has."""
    for name in ("save", "load"):
        if not callable(getattr(storage, name, None)):
            raise TypeError(f"a storage has async save(batch) and load(query) methods; "
                            f"{type(storage).__name__} has no {name}()")


def check_query(query: Any) -> Callable[[Any], bool] | None:
    """Return ``query`` if it is None or a predicate (a callable); raise TypeError otherwise."""
    if query is not None and not callable(query):
        raise TypeError(f"query must be None (all records) or a callable record -> bool, not {type(query).__name__}")
    return cast("Callable[[Any], bool] | None", query)


class MemoryStorage:
    """Records in a list, in this process only: for tests, caches and as the model of a storage.

    Query: ``None`` for all records, or a callable ``record -> bool``.
    Records are kept as the objects saved (no copy, no encoding), and it
    stays readable after ``close()``: what it holds is the point of it.
    """

    def __init__(self, records: list[Any] | None = None) -> None:
        """Start with a copy of ``records`` (a list) already stored, or with none."""
        if records is not None and not isinstance(records, list):
            raise TypeError(f"records must be a list or None, not {type(records).__name__}")
        self._records: list[Any] = [] if records is None else list(records)

    async def save(self, batch: list[Any]) -> None:
        """Append the records of ``batch``."""
        self._records.extend(_check_batch(batch))

    async def load(self, query: Callable[[Any], bool] | None = None) -> list[Any]:
        """All records (``query`` None) or those for which ``query(record)`` is true, in save order."""
        predicate = check_query(query)
        if predicate is None:
            return list(self._records)
        return [record for record in self._records if predicate(record)]

    async def replace(self, items: list[Any]) -> None:
        """Make ``items`` the only stored records."""
        self._records = list(_check_batch(items))

    async def close(self) -> None:
        """Nothing to release; the records stay readable."""

    def __len__(self) -> int:
        return len(self._records)

    def __repr__(self) -> str:
        return f"<MemoryStorage records={len(self._records)}>"


def _check_batch(batch: Any) -> list[Any]:
    if not isinstance(batch, list):
        raise TypeError(f"a batch is a list of records, not {type(batch).__name__}")
    return batch
