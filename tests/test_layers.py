"""The import graph: no loop, every arrow pointing down the layers, heavy imports where they
belong (matplotlib only in plotting, scikit-learn only in the estimator, torch not for --help).

Imports inside functions count as arrows too: a lazy import that points up is still a loop.
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "attnlab"

# the layers of the design, bottom first; a module belongs to the first prefix that matches
LAYERS: list[tuple[str, tuple[str, ...]]] = [
    ("validation", ("attnlab._validation",)),
    ("data", ("attnlab.datasets", "attnlab.kernels", "attnlab._load_checks", "attnlab._pickle_scan",
              "attnlab._load_numpy", "attnlab._load_safetensors", "attnlab._load_torch",
              "attnlab._loading")),
    ("core", ("attnlab.masking", "attnlab.attention", "attnlab._nadaraya_watson",
              "attnlab.pooling")),
    ("modules", ("attnlab.modules", "attnlab.multihead", "attnlab.recording")),
    ("estimators", ("attnlab.bandwidth", "attnlab.estimators", "attnlab.training",
                    "attnlab.compare")),
    ("plotting", ("attnlab.plotting",)),
    ("book", ("attnlab.d2l", "attnlab.exercises", "attnlab.grading", "attnlab._grading_worker")),
    ("cli", ("attnlab.cli", "attnlab.__main__")),
]  # fmt: skip


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(path): path for path in sorted(PACKAGE.rglob("*.py"))}


def layer(name: str) -> int:
    for index, (_, prefixes) in enumerate(LAYERS):
        if any(name == prefix or name.startswith(prefix + ".") for prefix in prefixes):
            return index
    raise AssertionError(f"{name} is in no layer of tests/test_layers.py: add it where it belongs")


def imports(name: str) -> set[str]:
    """Modules (attnlab's and others') that ``name`` imports anywhere in its code."""
    tree = ast.parse(MODULES[name].read_text(encoding="utf-8"))
    package = name if MODULES[name].name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative import
                base = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                module = f"{base}.{node.module}" if node.module else base
            else:
                module = node.module
            found.add(module)
            # "from attnlab import plotting" imports the submodule attnlab.plotting
            found |= {f"{module}.{alias.name}" for alias in node.names} & set(MODULES)
    return found


def attnlab_imports(name: str) -> set[str]:
    found = set()
    for module in imports(name):
        while module and module not in MODULES:
            module = module.rpartition(".")[0]
        if module and module != name and module != "attnlab":
            found.add(module)
    return found


# the lazy namespace's TYPE_CHECKING block names every module; it imports none at run time
GRAPH = {name: attnlab_imports(name) for name in MODULES if name != "attnlab"}


def test_every_module_is_in_a_layer():
    for name in GRAPH:
        layer(name)


@pytest.mark.parametrize("name", sorted(GRAPH))
def test_arrows_point_down_the_layers(name):
    upward = [other for other in GRAPH[name] if layer(other) > layer(name)]
    assert not upward, f"{name} ({LAYERS[layer(name)][0]}) imports {upward}, from a layer above it"


def test_import_graph_has_no_loop():
    visiting, done = [], set()

    def visit(name):
        if name in done:
            return
        assert name not in visiting, "import loop: " + " -> ".join([*visiting, name])
        visiting.append(name)
        for other in sorted(GRAPH[name]):
            visit(other)
        visiting.pop()
        done.add(name)

    for name in sorted(GRAPH):
        visit(name)


@pytest.mark.parametrize("name", sorted(GRAPH))
def test_only_plotting_imports_matplotlib(name):
    if layer(name) == layer("attnlab.plotting"):
        return
    heavy = {module for module in imports(name) if module.split(".")[0] == "matplotlib"}
    assert not heavy, f"{name} imports {sorted(heavy)}; drawing belongs to attnlab.plotting"


@pytest.mark.parametrize("name", sorted(GRAPH))
def test_only_the_estimator_imports_scikit_learn(name):
    if name == "attnlab.estimators":
        return
    heavy = {module for module in imports(name) if module.split(".")[0] == "sklearn"}
    assert not heavy, f"{name} imports {sorted(heavy)}; only attnlab.estimators may"


def loaded_after(code: str) -> dict[str, bool]:
    probe = (
        f"import sys\n{code}\nimport json\n"
        "print(json.dumps({name: name in sys.modules for name in "
        "('torch', 'matplotlib', 'sklearn')}))"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=300, check=True
    )
    return json.loads(result.stdout.splitlines()[-1])


def test_what_each_entry_point_loads():
    # the namespace and the command's parser load nothing heavy; the core loads torch alone
    assert loaded_after("import attnlab") == {"torch": False, "matplotlib": False, "sklearn": False}
    assert loaded_after("from attnlab.cli import build_parser; build_parser()") == {
        "torch": False, "matplotlib": False, "sklearn": False
    }  # fmt: skip
    assert loaded_after("import attnlab; attnlab.nadaraya_watson; attnlab.MultiHeadAttention") == {
        "torch": True, "matplotlib": False, "sklearn": False
    }  # fmt: skip
    assert loaded_after("import attnlab.plotting, attnlab.compare; attnlab.select_bandwidth") == {
        "torch": True, "matplotlib": False, "sklearn": False
    }  # fmt: skip
    assert loaded_after("import attnlab; attnlab.NadarayaWatsonRegressor")["sklearn"]


def test_every_public_name_of_the_namespace_resolves():
    import attnlab

    for name in attnlab.__all__:
        assert getattr(attnlab, name) is not None, name
    assert sorted(dir(attnlab)) == sorted(set(dir(attnlab)))
    with pytest.raises(AttributeError, match="module 'attnlab' has no attribute 'nadaraya'"):
        attnlab.nadaraya
