"""Interface strings in Russian, Kazakh and English (``geo_almaty/locale/messages.yaml``)."""
from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from . import settings
from .errors import InputError


@lru_cache(maxsize=1)
def messages() -> dict[str, dict[str, str]]:
    """All interface strings, keyed by message id then language."""
    from .config import read_yaml

    return read_yaml(Path(__file__).resolve().parent / "locale" / "messages.yaml")


def check_language(lang: str) -> str:
    """Return ``lang`` if supported, else raise a one-line error."""
    if lang not in settings.LANGUAGES:
        raise InputError(f"unsupported language '{lang}'", column="lang", expected=" or ".join(settings.LANGUAGES))
    return lang


def text(message_id: str, lang: str) -> str:
    """The interface string ``message_id`` in ``lang`` (English if that language lacks it)."""
    entry = messages()[message_id]
    return entry.get(lang) or entry["en"]
