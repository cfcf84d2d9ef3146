""""Why not here?" on the planner map: tap a place on a suitability surface, read the rules that catch it.

The rule bitmask of every candidate (:func:`geo_almaty.siting.why.exclusion_surface`) is warped to
Web Mercator on the same pixels as the surface it lies under and embedded as a lossless PNG:
rule bits 0-7 in red, 8-15 in green, 16-22 in blue, bit 23 set where a candidate is, alpha opaque
(a browser canvas keeps opaque pixels exact). The page's script (``GA.addWhyNotHere`` in
``static/ga_map.js``) reads the tapped pixel and lists the rules of its bits with their limit and
source, in the page language; the answer is the one ``geo-almaty why`` gives for the cell, without
the distance to the nearest feature.
"""
from __future__ import annotations

import logging

import numpy as np

from .. import settings
from ..explain import format_distance
from ..i18n import text as message
from ..siting.why import Reason, burn_candidates, exclusion_surface
from ..siting.zones import SiteRule
from .overlay import png_data_uri, warp_to_web_mercator
from .text import tr, tr_message

log = logging.getLogger(__name__)

#: Bit marking a pixel that holds a candidate (so "no rule" and "no candidate" differ).
CANDIDATE_BIT = 23
#: Rules that fit the PNG's three colour bytes beside the candidate bit.
MAX_RULES = CANDIDATE_BIT


def rule_html(rule: SiteRule) -> str:
    """One rule as three language spans: 'excluded: <label> (limit); <source>'."""
    texts = {}
    for lang in settings.LANGUAGES:
        label = rule.label[lang]
        if rule.slope_widths:
            widths = sorted({w for _, w in rule.slope_widths})
            label += f" ({'–'.join(format_distance(w, lang) for w in (widths[0], widths[-1]))})"
        elif rule.distance_m:
            label += f" ({format_distance(rule.distance_m, lang)})"
        verify = bool(rule.citation and rule.citation.verify)
        texts[lang] = Reason(rule.id, rule.kind, rule.effect, {lang: label}, None, None, None, rule.layer,
                             rule.source_text(lang), verify).text(lang)
    return tr(texts)


def encode_bits(codes: np.ndarray) -> np.ndarray:
    """uint32 codes (rows, cols) as RGBA bands (4, rows, cols): low, middle and high byte, alpha 255."""
    codes = codes.astype(np.uint32)
    return np.stack([(codes >> s & 0xFF).astype(np.uint8) for s in (0, 8, 16)] + [np.full(codes.shape, 255, np.uint8)])


def why_not_here_config(outcome, study, *, surface_key: str, max_pixels: int) -> dict | None:
    """What the planner page needs to answer "why not here" on one facility's surface; None without rules."""
    result = outcome.result
    rules = result.rules.rules
    if not rules:
        return None
    if len(rules) > MAX_RULES:
        log.warning("%s: %d siting rules, more than the %d the map's 'why not here' can carry; left out of the map",
                    outcome.profile.id, len(rules), MAX_RULES)
        return None
    codes = exclusion_surface(result, study) | burn_candidates(result, study, np.full(len(result.candidates.x), 1 << CANDIDATE_BIT))
    warped, bounds = warp_to_web_mercator(codes, study.grid, max_pixels, nodata=0)
    return {"surface": surface_key, "image": png_data_uri(encode_bits(warped)), "bounds": bounds,
            "candidate_bit": CANDIDATE_BIT, "rules": [rule_html(r) for r in rules],
            "title": tr({lang: f"{message('why_not_here', lang)}: {outcome.profile.title[lang]}" for lang in settings.LANGUAGES}),
            "no_rule": tr_message("why_no_rule"), "no_candidate": tr_message("why_no_candidate")}

