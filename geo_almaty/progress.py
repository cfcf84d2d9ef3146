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
