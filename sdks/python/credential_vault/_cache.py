"""A thread-safe in-memory cache whose entries say how long they are good for, with single flight."""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Callable, Generic, Optional, Tuple, TypeVar

T = TypeVar("T")


class _Flight(Generic[T]):
    def __init__(self) -> None:
        self.done = threading.Event()
        self.value: Optional[T] = None
        self.error: Optional[BaseException] = None


class TtlCache(Generic[T]):
    """Concurrent ``get`` calls of a missing key share one ``load``. A failed load is not cached, so
    the next call tries again. Bounded: beyond ``max_entries`` the least recently used entry goes."""

    def __init__(self, now: Callable[[], float], max_entries: int = 1000) -> None:
        self._now = now
        self._max = max_entries
        self._lock = threading.Lock()
        self._entries: "OrderedDict[str, Tuple[T, float]]" = OrderedDict()
        self._in_flight: dict[str, _Flight[T]] = {}

    def get(self, key: str, load: Callable[[], T], until: Callable[[T], float]) -> Tuple[T, bool]:
        """The cached value or ``load()``'s, kept until the epoch seconds ``until(value)`` returns.
        The flag is False when the value came from the cache or from another caller's load."""
        with self._lock:
            hit = self._entries.get(key)
            if hit is not None and hit[1] > self._now():
                self._entries.move_to_end(key)
                return hit[0], False
            self._entries.pop(key, None)
            flight = self._in_flight.get(key)
            leader = flight is None
            if flight is None:
                flight = self._in_flight[key] = _Flight()
        if not leader:
            flight.done.wait()
            if flight.error is not None:
                raise flight.error
            return flight.value, False  # type: ignore[return-value]
        try:
            value = load()
        except BaseException as err:
            flight.error = err
            raise
        else:
            flight.value = value
            self._store(key, value, until(value))
            return value, True
        finally:
            with self._lock:
                self._in_flight.pop(key, None)
            flight.done.set()

    def delete(self, key: str) -> None:
        with self._lock:
            self._entries.pop(key, None)

    def delete_prefix(self, prefix: str) -> None:
        with self._lock:
            for key in [k for k in self._entries if k.startswith(prefix)]:
                del self._entries[key]

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()

    def __len__(self) -> int:
        return len(self._entries)

    def _store(self, key: str, value: T, until: float) -> None:
        if not until > self._now():
            return
        with self._lock:
            self._entries[key] = (value, until)
            self._entries.move_to_end(key)
            while len(self._entries) > self._max:
                self._entries.popitem(last=False)
