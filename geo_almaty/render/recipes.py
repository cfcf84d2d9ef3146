"""Map recipes (``maps/*.yaml``): which layers, styles, labels and facilities a map shows."""
from __future__ import annotations

from pathlib import Path

from .. import settings
from ..catalog import Catalog
from ..config import load_validated_yaml, named_yaml
from ..errors import RecipeError
from ..profiles import list_profiles, profile_path


def recipe_path(name: str | Path) -> Path:
    """A recipe given by name (``planner``) or path."""
    return named_yaml(name, settings.maps_dir())


def load_recipe(name: str | Path, catalog: Catalog | None = None, allocations: set[str] | None = None) -> dict:
    """Load and validate a recipe; with ``catalog``/``allocations`` also check what it names."""
    path = recipe_path(name)
    recipe = load_validated_yaml(path, "recipe", RecipeError)
    recipe["_path"] = path
    for item in recipe["facilities"]:
        if not profile_path(item["facility"]).is_file():
            raise RecipeError(f"unknown facility '{item['facility']}'", file=path, column="facilities",
                              expected="one of " + ", ".join(list_profiles()))
    if catalog is not None:
        for n, layer in enumerate(recipe.get("layers", [])):
            if layer["layer"] not in catalog.layers:
                raise RecipeError(f"unknown layer '{layer['layer']}'", file=path, column=f"layers/{n}/layer",
                                  expected="a catalog layer: " + ", ".join(catalog.layers))
            unknown = sorted(set(layer.get("classes", {})) - set(catalog.layer(layer["layer"]).classes))
            if unknown:
                raise RecipeError(f"unknown class(es) {', '.join(unknown)}", file=path, column=f"layers/{n}/classes",
                                  expected="classes of " + layer["layer"] + ": " + ", ".join(catalog.layer(layer["layer"]).classes))
    if allocations is not None:
        for n, item in enumerate(recipe.get("choropleths", [])):
            if item["allocation"] not in allocations:
                raise RecipeError(f"unknown allocation '{item['allocation']}'", file=path, column=f"choropleths/{n}/allocation",
                                  expected="one of " + ", ".join(sorted(allocations)))
    return recipe
