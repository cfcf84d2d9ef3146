"""Stable element ids, so that identical inputs give byte-identical HTML.

branca gives every element a random ``uuid4`` id, which becomes its JavaScript
variable and HTML id (``map_3f2a…``). :func:`stabilise_ids` renumbers every element
reachable from the root (children, and elements held in attributes such as the
minimap's own tile layer) in tree order, before the page is rendered.
"""
from __future__ import annotations

from branca.element import Element


def _reachable(root: Element) -> list[Element]:
    seen: dict[int, Element] = {}
    stack = [root]
    while stack:
        element = stack.pop()
        if id(element) in seen:
            continue
        seen[id(element)] = element
        nested = []
        for value in vars(element).values():
            if isinstance(value, Element):
                nested.append(value)
            elif isinstance(value, (list, tuple)):
                nested.extend(v for v in value if isinstance(v, Element))
                nested.extend(x for v in value if isinstance(v, tuple) for x in v if isinstance(x, Element))
            elif isinstance(value, dict) and value is not element._children:
                nested.extend(v for v in value.values() if isinstance(v, Element))
        stack.extend(reversed(list(element._children.values()) + nested))
    return list(seen.values())


def stabilise_ids(root: Element) -> int:
    """Give every element under ``root`` a sequential id (``000001``…); returns how many."""
    elements = _reachable(root)
    for n, element in enumerate(elements, start=1):
        element._id = f"{n:06d}"
    return len(elements)
