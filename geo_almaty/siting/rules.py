"""The siting rules layer (``rules/*.yaml``): regulations, sanitary zones, bird-strike hazard, water protection.

The rules live apart from the facility profiles: a profile names its facility type
and planned capacity (``siting:``), the rules say what zone that means and which
regulation (document, item, date) says so. Every entry not yet checked against the
text in force carries ``verify: true`` and what was found instead.

All files of the rules folder are validated against ``siting_rules.schema.json``
and merged; every citation must name a known regulation.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

from .. import settings
from ..config import load_validated_yaml
from ..errors import ProfileError

#: Files of the rules folder, in the order they are merged.
RULE_FILES = ("regulations.yaml", "sanitary_zones.yaml", "aviation.yaml", "water_protection.yaml")


@dataclass(frozen=True)
class Citation:
    """A regulation item a rule applies, with whether it still needs checking against the text in force."""

    regulation: str
    item: str
    document: str
    date: str
    url: str
    title: dict[str, str]
    short: dict[str, str]
    verify: bool = False
    found: str = ""

    def text(self, lang: str = "en") -> str:
        """One line: the document in short and the item; ends with '(verify)' when the entry is not yet verified."""
        flag = {"ru": " (требует проверки)", "kk": " (тексеруді қажет етеді)", "en": " (verify)"}[lang] if self.verify else ""
        return f"{self.short.get(lang) or self.short['en']}: {self.item}{flag}"

    def full_text(self, lang: str = "en") -> str:
        """Title, document with its amendments, item and address (for tables)."""
        flag = " (verify)" if self.verify else ""
        return f"{self.title.get(lang) or self.title['en']}: {self.document}; {self.item}{flag}; {self.url}"


@dataclass(frozen=True)
class SitingRules:
    """Every siting rule, merged from the rules folder (see ``rules/*.yaml``)."""

    folder: Path
    regulations: dict[str, dict]
    hazard_classes: dict[str, dict]
    receptors: tuple[dict, ...]
    receptors_citation: Citation | None
    facility_types: dict[str, dict]
    bird_hazard: dict | None
    water_protection: dict | None
    files: tuple[Path, ...] = field(default=())

    def citation(self, spec: dict, *, verify: bool = False, found: str = "") -> Citation:
        """A :class:`Citation` from a ``{regulation, item}`` mapping of the rules."""
        regulation = self.regulations[spec["regulation"]]
        amended = regulation.get("amended_by") or []
        document = regulation["document"] + (f"; amended: {'; '.join(amended)}" if amended else "")
        return Citation(spec["regulation"], spec["item"], document, regulation["date"], regulation["url"], dict(regulation["title"]),
                        dict(regulation["short"]), verify, found)

    def facility_type(self, name: str) -> dict:
        """The facility type ``name``; a one-line error lists the known ones."""
        if name not in self.facility_types:
            raise ProfileError(f"unknown facility type '{name}'", file=self.folder / "sanitary_zones.yaml", column="siting/facility_type",
                               expected="one of " + ", ".join(sorted(self.facility_types)))
        return self.facility_types[name]


def load_siting_rules(folder: str | Path | None = None) -> SitingRules:
    """Read, validate and merge the rules folder (default ``rules/`` of the project); cached per folder."""
    return _load(Path(folder).resolve() if folder else settings.rules_dir().resolve())


@lru_cache(maxsize=8)
def _load(folder: Path) -> SitingRules:
    merged: dict = {}
    files = []
    for name in RULE_FILES:
        path = folder / name
        if not path.is_file():
            continue
        document = load_validated_yaml(path, "siting_rules", ProfileError)
        for key, value in document.items():
            if key == "version":
                continue
            if key in merged:
                raise ProfileError(f"section '{key}' given twice", file=path, column=key, expected="each section in one file of the rules folder")
            merged[key] = value
        files.append(path)
    if "regulations" not in merged:
        raise ProfileError("no regulations", file=folder / "regulations.yaml", expected="a rules folder with regulations.yaml")
    rules = SitingRules(
        folder=folder, regulations=merged["regulations"], hazard_classes=merged.get("hazard_classes", {}),
        receptors=tuple(merged.get("receptors", ())), receptors_citation=None, facility_types=merged.get("facility_types", {}),
        bird_hazard=merged.get("bird_hazard"), water_protection=merged.get("water_protection"), files=tuple(files),
    )
    _check_references(rules, merged)
    if "receptors_citation" in merged:
        rules = SitingRules(**{**rules.__dict__, "receptors_citation": rules.citation(
            merged["receptors_citation"], verify=bool(merged.get("receptors_verify")), found=merged.get("receptors_found", ""))})
    return rules


def _citations(merged: dict):
    """(where, citation spec, verify, found) for every citation of the merged rules."""
    for name, spec in merged.get("hazard_classes", {}).items():
        yield f"hazard_classes/{name}", spec["citation"], spec["verify"], spec.get("found", "")
    if "receptors_citation" in merged:
        yield "receptors_citation", merged["receptors_citation"], bool(merged.get("receptors_verify")), merged.get("receptors_found", "")
    for name, facility in merged.get("facility_types", {}).items():
        for band in facility["bands"]:
            yield f"facility_types/{name}/{band['id']}", band["citation"], band["verify"], band.get("found", "")
    if merged.get("bird_hazard"):
        b = merged["bird_hazard"]
        yield "bird_hazard", b["citation"], b["verify"], b.get("found", "")
        for extra in b.get("other_citations", []):
            yield "bird_hazard/other_citations", extra, False, ""
    if merged.get("water_protection"):
        w = merged["water_protection"]
        for part in ("strip", "zone"):
            yield f"water_protection/{part}", w[part]["citation"], w[part]["verify"], w[part].get("found", "")
            for extra in w[part].get("other_citations", []):
                yield f"water_protection/{part}/other_citations", extra, False, ""


def _check_references(rules: SitingRules, merged: dict) -> None:
    where_file = rules.folder
    for where, spec, verify, found in _citations(merged):
        if spec["regulation"] not in rules.regulations:
            raise ProfileError(f"unknown regulation '{spec['regulation']}'", file=where_file, column=where,
                               expected="a regulation of regulations.yaml: " + ", ".join(sorted(rules.regulations)))
        if verify and not found.strip():
            raise ProfileError("an entry to verify says nothing of what was found", file=where_file, column=where,
                               expected="found: what was read instead, and where")
    for name, facility in rules.facility_types.items():
        bands = facility["bands"]
        bounds = [b.get("max_capacity_t_yr") for b in bands]
        head = bounds[:-1]
        if any(b is None for b in head) or any(a >= b for a, b in zip(head, head[1:])) or bounds[-1] is not None:
            raise ProfileError("bands must rise by max_capacity_t_yr and only the last may be unbounded", file=where_file,
                               column=f"facility_types/{name}/bands", expected="ascending bounds, the last band without one")
        for band in bands:
            if band["hazard_class"] != "none" and "width_m" not in band and band["hazard_class"] not in rules.hazard_classes:
                raise ProfileError(f"hazard class {band['hazard_class']} has no width", file=where_file,
                                   column=f"facility_types/{name}/{band['id']}", expected="a class of hazard_classes or a width_m")
