"""The notebooks run: their code cells execute in order against the installed package."""
from __future__ import annotations

import json

import pytest

from geo_almaty import settings

NOTEBOOKS = sorted((settings.project_root() / "notebooks").glob("*.ipynb"))
#: A file each notebook writes (relative to GEO_ALMATY_NOTEBOOK_OUT) and its least size in bytes.
WRITES = {
    "walkthrough": ("citizen_composting.html", 100_000),
    "akimat_siting": ("qgis/composting_hub_sites.gpkg", 10_000),
}


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_code_cells_run(notebook, tmp_path, monkeypatch):
    monkeypatch.setenv("GEO_ALMATY_NOTEBOOK_OUT", str(tmp_path))
    cells = json.loads(notebook.read_text(encoding="utf-8"))["cells"]
    namespace: dict = {"__name__": "__notebook__"}
    for n, cell in enumerate(cells):
        if cell["cell_type"] == "code":
            exec(compile("".join(cell["source"]), f"{notebook.name}[{n}]", "exec"), namespace)
    name, size = WRITES[notebook.stem]
    assert (tmp_path / name).stat().st_size > size
    if notebook.stem == "akimat_siting":
        assert (tmp_path / "compare_map.html").stat().st_size > 100_000 and (tmp_path / "qgis" / "compare.csv").is_file()
        assert len(namespace["table"]) == 2 and namespace["robust"].base_selection is not None
