"""Progress bars (tqdm) for long work; off unless the caller (the CLI) asks for them."""
from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import TypeVar

from tqdm.auto import tqdm

T = TypeVar("T")


def progress_bar(items: Iterable[T], *, desc: str, unit: str = "it", enabled: bool = False, total: int | None = None) -> Iterator[T]:
    """Iterate ``items`` with a progress bar on stderr when ``enabled``."""
    if not enabled:
        yield from items
        return
    yield from tqdm(items, desc=desc, unit=unit, total=total, leave=False, dynamic_ncols=True)


class _NoBar:
    """A stand-in for a tqdm bar when progress is off."""

    def update(self, n: int = 1) -> None:
        pass

    def set_postfix_str(self, text: str) -> None:
        pass

    def __enter__(self) -> _NoBar:
        return self

    def __exit__(self, *exc: object) -> None:
        pass


def progress_counter(*, total: int | None, desc: str, unit: str = "it", enabled: bool = False):
    """A manually updated bar (``update``, ``set_postfix_str``; a context manager), or a silent stand-in."""
    if not enabled:
        return _NoBar()
    return tqdm(total=total, desc=desc, unit=unit, leave=False, dynamic_ncols=True)
