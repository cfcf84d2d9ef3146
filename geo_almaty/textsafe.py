"""Text from data made safe for each output: missing names, spreadsheet formulas, Markdown.

Names come from user files and OpenStreetMap. They may be empty, or the text a
tool wrote for a missing value ('NaN', 'None', '<NA>'); they may start with '='
and run as a formula in Excel; they may hold Markdown or HTML markup. HTML
escaping lives in :mod:`geo_almaty.render.text`.
"""
from __future__ import annotations

import html
import math
import re

import pandas as pd

#: What pandas, GDAL and spreadsheets write for a missing value; never a real place name.
MISSING_TOKENS = frozenset({"nan", "none", "null", "<na>", "nat", "n/a", "#n/a"})
#: First characters that make Excel, LibreOffice or Google Sheets read a cell as a formula (OWASP "CSV injection").
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r", "\n")
#: Markdown punctuation that can change how inline text renders ('<', '>' and '&' become HTML entities).
_MARKDOWN_SPECIAL = re.compile(r"([\\`*_\[\]|~])")


def is_missing_text(value: object) -> bool:
    """True for None, NaN, pandas NA, blank text and the words tools write for a missing value ('NaN', 'None')."""
    if value is None or value is pd.NA or value is pd.NaT:
        return True
    if isinstance(value, float):
        return math.isnan(value)
    if isinstance(value, str):
        text = value.strip()
        return not text or text.lower() in MISSING_TOKENS
    return False


def clean_text(value: object) -> str | None:
    """``value`` as stripped text, or None when it is missing (see :func:`is_missing_text`)."""
    return None if is_missing_text(value) else str(value).strip()


def neutralise_formula(value: object) -> object:
    """Text that a spreadsheet would run as a formula, prefixed with an apostrophe; anything else unchanged."""
    if isinstance(value, str) and value.startswith(FORMULA_PREFIXES):
        return "'" + value
    return value


def markdown_escape(value: object) -> str:
    """Text for a Markdown table cell: markup shown as text, one line, no cell break.

    HTML special characters become entities (Markdown renders inline HTML) and
    Markdown punctuation is backslash-escaped; newlines become spaces.
    """
    text = "" if is_missing_text(value) else " ".join(str(value).split())
    return _MARKDOWN_SPECIAL.sub(r"\\\1", html.escape(text, quote=False))
