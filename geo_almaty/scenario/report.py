"""How a run's outputs record the scenario it ran under: a Markdown block and a trilingual HTML section."""
from __future__ import annotations

from .. import settings
from ..i18n import text as message
from .model import Scenario, assumptions


def scenario_markdown(scenario: Scenario, lang: str) -> list[str]:
    """Lines naming the scenario (title, id, description, report lines) and every override with its citation."""
    from ..render.index import md_text

    lines = [f"## {md_text(message('scenario', lang))}: {md_text(scenario.title[lang])} ({md_text(scenario.id)})", "",
             md_text(scenario.description[lang]), ""]
    if scenario.report_lines:
        lines.append(f"- {md_text(message('compare_report_lines', lang))}: {md_text(scenario.report_lines)}")
    lines += [f"- {md_text(key)}: {md_text(reason)} ({md_text(cite)})" for key, reason, cite in assumptions(scenario)]
    return lines + [""]


def scenario_section_html(scenario: Scenario) -> str:
    """The scenario as an HTML section in the three languages (every text escaped)."""
    from ..render.text import esc, tr

    def body(lang: str) -> str:
        items = "".join(f"<li><code>{esc(key)}</code>: {esc(reason)} <small>({esc(cite)})</small></li>" for key, reason, cite in assumptions(scenario))
        lines = f"<p><small>{esc(message('compare_report_lines', lang))}: {esc(scenario.report_lines)}</small></p>" if scenario.report_lines else ""
        overrides = f"<h3>{esc(message('scenario_overrides', lang))}</h3><ul>{items}</ul>" if items else ""
        return (f'<h2>{esc(message("scenario", lang))}: {esc(scenario.title[lang])} <small><code>{esc(scenario.id)}</code></small></h2>'
                f"<p>{esc(scenario.description[lang])}</p>{lines}{overrides}")

    return f'<section class="ga-scenario" data-scenario="{esc(scenario.id)}">{tr({lang: body(lang) for lang in settings.LANGUAGES}, escape=False)}</section>'
