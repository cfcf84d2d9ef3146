"""Every report citation in profiles/, scenarios/ and data/allocation.yaml says what it is cited for.

Each item with ``report_lines`` lists ``keywords``; every cited range must contain at least one of them
(case and ё/е ignored, lines joined with spaces), so a citation pointing at the wrong lines fails. Skips
without the report (``../shared/report``).
"""
from __future__ import annotations

import re

import pytest
import yaml

from geo_almaty import settings

RANGE = re.compile(r"L?(\d+)(?:\s*-\s*(\d+))?")


def normalise(text: str) -> str:
    return " ".join(text.lower().replace("ё", "е").replace("\u00ad", "").split())


def cited_ranges(report_lines: str) -> list[tuple[int, int]]:
    """'L291-297, L1229' → [(291, 297), (1229, 1229)]."""
    ranges = []
    for part in re.split(r"[,;]", report_lines):
        match = RANGE.fullmatch(part.strip())
        assert match, f"malformed citation {part!r} in {report_lines!r}"
        start = int(match.group(1))
        ranges.append((start, int(match.group(2) or start)))
    return ranges


def citation_problems(where: str, item: dict, lines: list[str]) -> list[str]:
    """Ranges of ``item['report_lines']`` that hold none of its keywords (and items without keywords)."""
    keywords = [normalise(k) for k in item.get("keywords") or []]
    if not keywords:
        return [f"{where}: cites {item['report_lines']} but lists no keywords"]
    problems = []
    for start, end in cited_ranges(item["report_lines"]):
        if end > len(lines) or start > end:
            problems.append(f"{where}: L{start}-{end} is not a range of the report's {len(lines)} lines")
            continue
        text = normalise(" ".join(lines[start - 1:end]))
        if not any(k in text for k in keywords):
            problems.append(f"{where}: L{start}-{end} holds none of {item['keywords']}")
    return problems


def cited_items():
    """(where, item) for every mapping with report_lines in the profiles and the allocation definitions."""
    for path in sorted(settings.profiles_dir().glob("*.yaml")):
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
        yield f"{path.name}", document
        if "siting" in document and "report_lines" in document["siting"]:
            yield f"{path.name}/siting", document["siting"]
        for kind in ("exclusions", "criteria"):
            for item in document.get(kind, []):
                if "report_lines" in item:
                    yield f"{path.name}/{kind}/{item['id']}", item
        for stage in document.get("selection", {}).get("stages", []):
            if "report_lines" in stage:
                yield f"{path.name}/selection/stages/{stage['id']}", stage
    for path in sorted(settings.scenarios_dir().glob("*.yaml")):
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
        yield f"scenarios/{path.name}", document
        items = [(f"profiles/{pid}", item) for pid, item in document.get("profiles", {}).items()]
        items += [(f"{kind}/{n}", item) for kind in ("rules", "flows") for n, item in enumerate(document.get(kind, []))]
        items += [("catalog", document["catalog"])] if "catalog" in document else []
        yield from ((f"scenarios/{path.name}/{key}", item) for key, item in items if "report_lines" in item)
    allocation = yaml.safe_load((settings.data_dir() / "allocation.yaml").read_text(encoding="utf-8"))
    for flow_id, spec in allocation["allocations"].items():
        assert "report_lines" in spec, f"allocation.yaml/{flow_id} cites no report lines"
        yield f"allocation.yaml/{flow_id}", spec


@pytest.fixture
def report_lines(report_file):
    return report_file.read_text(encoding="utf-8").split("\n")


def test_every_cited_range_holds_one_of_the_items_keywords(report_lines):
    items = list(cited_items())
    assert len(items) > 40
    problems = [p for where, item in items for p in citation_problems(where, item, report_lines)]
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("report_lines_, keywords", [
    ("L2641-2642", ["водоохран"]),              # water networks, not a water-protection strip
    ("L3959-3970", ["запах", "санитарн"]),      # urban farming, not an odour buffer
    ("L3649-3652", ["дорог"]),                  # a heading, not road access
    ("L435-441", ["промышлен"]),                # heritage, not industrial land
    ("L1796-1799, L1838-1846", ["железн"]),     # Belt and Road, not rail access
    ("L4866-4868", ["закрытых"]),               # the 'not in closed industrial zones' phrase is at L4896-4898
])
def test_the_wrong_citations_of_issue_11_would_fail(report_lines, report_lines_, keywords):
    assert citation_problems("example", {"report_lines": report_lines_, "keywords": keywords}, report_lines)


def test_keywords_are_matched_without_case_or_yo(report_lines):
    assert not citation_problems("ok", {"report_lines": "L4896-4898", "keywords": ["НЕ В ЗАКРЫТЫХ"]}, report_lines)
    assert normalise("Ёлка  ЁЖ") == "елка еж"
