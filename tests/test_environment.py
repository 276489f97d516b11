"""The pins in pyproject.toml and environment.yml agree; notebooks are committed clean."""

import json
import re
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def _pins_pyproject() -> dict[str, str]:
    data = tomllib.loads((ROOT / "pyproject.toml").read_text())
    deps = data["project"]["dependencies"] + data["project"]["optional-dependencies"]["dev"]
    return dict(d.split("==") for d in deps)


def _pins_conda() -> dict[str, str]:
    text = (ROOT / "environment.yml").read_text()
    return dict(m.groups() for m in re.finditer(r"^\s*-\s*([A-Za-z0-9_.\-]+)==([^\s#]+)", text, re.M))


def test_every_dependency_is_pinned():
    data = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert all("==" in d for d in data["project"]["dependencies"])


def test_pins_agree():
    py, conda = _pins_pyproject(), _pins_conda()
    assert py == conda, {k: (py.get(k), conda.get(k)) for k in set(py) | set(conda) if py.get(k) != conda.get(k)}


def test_field_dependencies_present():
    names = {k.lower().replace("_", "-") for k in _pins_pyproject()}
    for needed in ("torch", "torchvision", "jupyterlab", "papermill", "ipywidgets", "matplotlib",
                   "seaborn", "torchmetrics", "scikit-learn", "tqdm", "pytest", "ipykernel"):
        assert needed in names


NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))


def test_notebook_series_complete():
    assert [p.name[:2] for p in NOTEBOOKS] == ["00", "01", "02", "03", "04", "05"]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebooks_committed_clean(path):
    nb = json.loads(path.read_text())
    code = [c for c in nb["cells"] if c["cell_type"] == "code"]
    assert not any(c.get("outputs") for c in code), "notebook has outputs"
    assert not any(c.get("execution_count") for c in code), "notebook has execution counts"
    params = [c for c in code if "parameters" in c.get("metadata", {}).get("tags", [])]
    assert len(params) == 1, "exactly one cell tagged 'parameters'"
    # literal-only parameters cell (derived values would not be recomputed after injection)
    for line in "".join(params[0]["source"]).splitlines():
        line = line.split("#")[0].strip()
        if line:
            name, _, value = line.partition("=")
            assert name.strip().isupper(), line
            eval(compile(value.strip(), "<param>", "eval"), {"__builtins__": {}}, {})


def test_gitignore_keeps_outputs_out():
    ignored = (ROOT / ".gitignore").read_text()
    for p in (".venv/", "artifacts/", "runs/", "figures/smoke/"):
        assert p in ignored
