"""Trilingual, escaped HTML text for maps and pages.

Every user-visible string is rendered as three spans (``ru``, ``kk``, ``en``); a
language switch in the page shows one of them. Text that comes from data is
always passed through :func:`html.escape`, so names with quotes, «», Kazakh
letters or markup show as text.
"""
from __future__ import annotations

import html

from .. import settings
from ..i18n import text as message

#: CSS that shows only the active language's spans (set on <html data-lang="…">).
LANGUAGE_CSS = "\n".join(
    [".t{display:none}"] + [f"html[data-lang={lang}] .t-{lang}{{display:inline}}" for lang in settings.LANGUAGES]
)


def esc(value: object) -> str:
    """Escape any value for HTML text or attribute content."""
    return html.escape("" if value is None else str(value), quote=True)


def tr(texts: dict[str, str], *, escape: bool = True) -> str:
    """Three language spans; ``texts`` maps ru/kk/en to plain text (escaped) or HTML (``escape=False``)."""
    parts = []
    for lang in settings.LANGUAGES:
        value = texts.get(lang) or texts.get("en") or texts.get("ru") or ""
        parts.append(f'<span class="t t-{lang}" lang="{lang}">{esc(value) if escape else value}</span>')
    return "".join(parts)


def tr_compact(texts: dict[str, str]) -> str:
    """:func:`tr`, or the one escaped text when every language reads the same (a street name, a place name)."""
    values = {texts.get(lang) or texts.get("en") or texts.get("ru") or "" for lang in settings.LANGUAGES}
    return esc(values.pop()) if len(values) == 1 else tr(texts)


def tr_message(message_id: str) -> str:
    """An interface message from ``locale/messages.yaml`` as three spans."""
    return tr({lang: message(message_id, lang) for lang in settings.LANGUAGES})


def per_language(render) -> dict[str, str]:
    """Call ``render(lang)`` for every language; returns ``{lang: text}`` for :func:`tr`."""
    return {lang: render(lang) for lang in settings.LANGUAGES}
