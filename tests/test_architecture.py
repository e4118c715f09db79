"""The layout holds: imports point one way with no cycles, model/ never imports Streamlit,
nothing edits sys.path, and every kind of colour model follows one contract the registry
can save and load."""

from __future__ import annotations

import ast
import json
from pathlib import Path

import numpy as np
import pytest
from sklearn.base import clone

from model.models.base import ColourModel, model_from_config, model_kinds
from model.registry.registry import ModelRegistry

REPO_ROOT = Path(__file__).resolve().parents[1]

LAYOUT_DOC = REPO_ROOT / "docs" / "pages" / "development" / "layout.md"

#: The layers of model/, bottom first, as the layout page states them. A module may import its own
#: layer or any below it, never one above.
LAYERS = [
    {"model.core"},
    {"model.io"},
    {"model.models"},
    {"model.evaluation", "model.simulate"},
    {"model.formulation"},
    {"model.auth"},
    {"model.store"},
    {"model.registry"},
    {"model.jobs"},
    {"model.serving"},
    {"model.presentation"},
    {"model", "model.__main__", "dashboard"},
]


def _module_name(path: Path) -> str:
    name = ".".join(path.relative_to(REPO_ROOT).with_suffix("").parts)
    return name.removesuffix(".__init__")


def _imported_modules(path: Path, known: set[str]) -> set[str]:
    """The project modules ``path`` imports anywhere in it (functions too), resolved to files."""
    package = _module_name(path) if path.name == "__init__.py" else _module_name(path).rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        names = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*parts, base] if base else parts)
            names = [base, *(f"{base}.{alias.name}" for alias in node.names)]
        for name in names:
            while name and name not in known:
                name = name.rpartition(".")[0]
            if name:
                found.add(name)
    return found


@pytest.fixture(scope="module")
def import_graph() -> dict[str, set[str]]:
    files = {_module_name(path): path for package in ("model", "dashboard") for path in (REPO_ROOT / package).rglob("*.py")}
    known = set(files)
    return {name: _imported_modules(path, known) - {name} for name, path in files.items()}


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected groups of two or more modules (Tarjan, iterative)."""
    index, low, on_stack, stack, groups, counter = {}, {}, set(), [], [], [0]

    def connect(start):
        work = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = counter[0]
        counter[0] += 1
        stack.append(start)
        on_stack.add(start)
        while work:
            node, edges = work[-1]
            for target in edges:
                if target not in index:
                    index[target] = low[target] = counter[0]
                    counter[0] += 1
                    stack.append(target)
                    on_stack.add(target)
                    work.append((target, iter(sorted(graph[target]))))
                    break
                if target in on_stack:
                    low[node] = min(low[node], index[target])
            else:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[node])
                if low[node] == index[node]:
                    group = []
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        group.append(member)
                        if member == node:
                            break
                    if len(group) > 1:
                        groups.append(sorted(group))

    for node in sorted(graph):
        if node not in index:
            connect(node)
    return groups


def _layer(module: str) -> int:
    for level, prefixes in reversed(list(enumerate(LAYERS))):
        if any(module == prefix or module.startswith(prefix + ".") for prefix in prefixes if prefix != "model"):
            return level
    return len(LAYERS) - 1  # the package root and the CLI sit on top


def test_the_cycle_finder_finds_a_cycle():
    # The check below is only worth something if it can fail.
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert _cycles({"a": {"b"}, "b": set()}) == []


def test_model_and_dashboard_have_no_import_cycle(import_graph):
    assert _cycles(import_graph) == []


def test_model_never_imports_streamlit():
    offenders = []
    for path in (REPO_ROOT / "model").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else [node.module or ""] if isinstance(node, ast.ImportFrom) else []
            if any(name.split(".")[0] == "streamlit" for name in names):
                offenders.append(str(path.relative_to(REPO_ROOT)))
    assert offenders == []


def _upward_imports(graph: dict[str, set[str]]) -> list[str]:
    return [
        f"{module} -> {target}"
        for module, targets in graph.items()
        if module.startswith("model.")
        for target in targets
        if target.startswith("model.") and _layer(target) > _layer(module)
    ]


def test_imports_point_down_the_layers(import_graph):
    assert _upward_imports(import_graph) == []


def test_an_upward_import_is_caught(import_graph):
    # formulation sits below serving: the import issue 22 found (formulation.result took a
    # constant from serving.explore) must fail the check above if it ever comes back.
    graph = {**import_graph, "model.formulation.result": import_graph["model.formulation.result"] | {"model.serving.explore"}}
    assert _upward_imports(graph) == ["model.formulation.result -> model.serving.explore"]


def test_the_layers_are_the_layout_pages_layers():
    # The layout page (linked from the README) names the layers in one line, bottom first:
    # "Layers, bottom first: core → io → … → the CLI and the dashboard".
    line = next(line for line in LAYOUT_DOC.read_text(encoding="utf-8").splitlines() if line.startswith("Layers, bottom first:"))
    documented = [
        {f"model.{name.strip(' `')}" for name in step.split(",")}
        for step in line.removeprefix("Layers, bottom first:").split("→")[:-1]
    ]
    assert documented == LAYERS[:-1]


def test_no_code_edits_sys_path():
    offenders = []
    for folder in ("model", "dashboard", "bench", "tests"):
        for path in (REPO_ROOT / folder).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if isinstance(node, ast.Attribute) and node.attr == "path" and isinstance(node.value, ast.Name) and node.value.id == "sys":
                    offenders.append(f"{path.relative_to(REPO_ROOT)}:{node.lineno}")
    assert offenders == []


# ---- one contract, every kind ------------------------------------------------------


def _small(kind: type[ColourModel]) -> ColourModel:
    quick = {"FormulationModel": {"hidden_layer_sizes": (8,), "max_iter": 100, "n_ensemble": 2}}
    return kind(**quick.get(kind.__name__, {}))


@pytest.mark.parametrize("kind", sorted(model_kinds()))
def test_registry_round_trips_every_kind_of_model(kind, tiny_dataset, tmp_path):
    model = _small(model_kinds()[kind]).fit(tiny_dataset)
    card = ModelRegistry(tmp_path).save_model(model, metrics={}, dataset_info={"fingerprint": tiny_dataset.fingerprint()})
    loaded, loaded_card = ModelRegistry(tmp_path).load_model(card.version)
    assert type(loaded) is type(model) and loaded_card.kind == kind
    recipes = tiny_dataset.recipes.head(5)
    np.testing.assert_array_equal(loaded.predict(recipes).reflectance, model.predict(recipes).reflectance)
    # The card's config rebuilds the same unfitted model, through JSON as it is stored.
    rebuilt = model_from_config(loaded_card.kind, json.loads(json.dumps(loaded_card.config)))
    assert rebuilt.get_params() == clone(model).get_params()


@pytest.mark.parametrize("kind", sorted(model_kinds()))
def test_every_kind_follows_the_contract(kind, tiny_dataset):
    unfitted = _small(model_kinds()[kind])
    assert clone(unfitted).get_params() == unfitted.get_params()
    with pytest.raises(Exception, match="not fitted"):
        unfitted.predict(tiny_dataset.recipes.head(2))
    model = clone(unfitted).fit(tiny_dataset)
    assert model.input_columns == [*tiny_dataset.colorants, "thickness_um"]
    X = tiny_dataset.recipes.head(4).to_numpy()
    member_reflectance, member_Lab = model.predict_members(X)
    assert member_reflectance.shape[1:] == (4, 31) and member_Lab.shape[1:] == (4, 3)
    reflectance, Lab = model.predict_arrays(X)
    prediction = model.predict(tiny_dataset.recipes.head(4))
    np.testing.assert_allclose(reflectance, prediction.reflectance, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(Lab, prediction.Lab, rtol=1e-9, atol=1e-9)
    assert model.n_parameters > 0
    assert model.reseeded(2).get_params(deep=False).get("random_state", 0) in (0, model.get_params(deep=False).get("random_state", 0) + 2000)


def test_save_model_refuses_what_is_not_a_colour_model(tmp_path):
    with pytest.raises(TypeError, match="ColourModel"):
        ModelRegistry(tmp_path).save_model(object(), metrics={}, dataset_info={})
    assert list(tmp_path.iterdir()) == []


def test_one_default_model_everywhere():
    # The CLI, training and retraining with no champion all train DEFAULT_MODEL; none names its own.
    from model.__main__ import _load_model
    from model.models.base import DEFAULT_MODEL, default_model

    assert type(_load_model(None)).__name__ == DEFAULT_MODEL == type(default_model()).__name__
    for module in ("model/jobs/training.py", "model/jobs/retrain.py", "model/evaluation/cross_validation.py", "model/__main__.py"):
        source = (REPO_ROOT / module).read_text(encoding="utf-8")
        assert "FormulationModel()" not in source and '"HybridModel"' not in source, module
