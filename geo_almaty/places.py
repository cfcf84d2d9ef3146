"""Which district a hand-drawn feature says it is in, read from its English name or its source note.

The embedded sketch layers say where a feature is in words ("… in Alatau district",
"Residential – Medeu district"). :func:`named_district` turns that into the id of a
city district (``districts`` layer) or an oblast district (``oblast_districts``
layer), so tests and the layer build can check the feature against the real polygon.
"""
from __future__ import annotations

import re

#: English district names as written in the embedded layers -> (layer, id).
DISTRICT_NAMES = {
    "Alatau": ("districts", "alatau"), "Almaly": ("districts", "almaly"), "Auezov": ("districts", "auezov"),
    "Bostandyk": ("districts", "bostandyk"), "Bostandyq": ("districts", "bostandyk"), "Medeu": ("districts", "medeu"),
    "Nauryzbay": ("districts", "nauryzbay"), "Turksib": ("districts", "turksib"), "Zhetysu": ("districts", "zhetysu"),
    "Karasai": ("oblast_districts", "karasai"), "Ili": ("oblast_districts", "ili"), "Talgar": ("oblast_districts", "talgar"),
    "Enbekshikazakh": ("oblast_districts", "enbekshikazakh"), "Zhambyl": ("oblast_districts", "zhambyl"),
}
_PATTERN = re.compile(r"\b(" + "|".join(DISTRICT_NAMES) + r") district\b")


def named_district(*texts: object) -> tuple[str, str] | None:
    """``(layer, id)`` of the first district named in ``texts`` (tried in order), or None."""
    for text in texts:
        if isinstance(text, str):
            match = _PATTERN.search(text)
            if match:
                return DISTRICT_NAMES[match.group(1)]
    return None
