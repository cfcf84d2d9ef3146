"""The notebooks run: their code cells execute in order against the installed package."""
from __future__ import annotations

import json

import pytest

from geo_almaty import settings

NOTEBOOKS = sorted((settings.project_root() / "notebooks").glob("*.ipynb"))


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_code_cells_run(notebook, tmp_path, monkeypatch):
    monkeypatch.setenv("GEO_ALMATY_NOTEBOOK_OUT", str(tmp_path))
    cells = json.loads(notebook.read_text(encoding="utf-8"))["cells"]
    namespace: dict = {"__name__": "__notebook__"}
    for n, cell in enumerate(cells):
        if cell["cell_type"] == "code":
            exec(compile("".join(cell["source"]), f"{notebook.name}[{n}]", "exec"), namespace)
    assert (tmp_path / "citizen_composting.html").stat().st_size > 100_000
