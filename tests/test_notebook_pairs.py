"""Each notebook and its paired percent-format source (jupytext) hold the same cells."""

from pathlib import Path

import jupytext
import pytest

NB_DIR = Path(__file__).resolve().parent.parent / "notebooks"
NOTEBOOKS = sorted(NB_DIR.glob("[0-9][0-9]_*.ipynb"))


def _cells(path: Path) -> list[tuple[str, str]]:
    return [(c.cell_type, c.source.strip()) for c in jupytext.read(path).cells]


def test_every_notebook_has_its_pair():
    assert len(NOTEBOOKS) == 6
    assert sorted(p.with_suffix(".py").name for p in NOTEBOOKS) == sorted(
        p.name for p in NB_DIR.glob("[0-9][0-9]_*.py"))


@pytest.mark.parametrize("nb", NOTEBOOKS, ids=lambda p: p.stem)
def test_pair_agrees(nb):
    ipynb, py = _cells(nb), _cells(nb.with_suffix(".py"))
    assert ipynb == py, f"{nb.name} and {nb.stem}.py differ: run `make sync`"


@pytest.mark.parametrize("nb", NOTEBOOKS, ids=lambda p: p.stem)
def test_one_literal_parameters_cell_then_the_shared_setup(nb):
    cells = jupytext.read(nb).cells
    params = [c for c in cells if "parameters" in c.metadata.get("tags", [])]
    assert len(params) == 1
    for line in params[0].source.splitlines():  # literals only: papermill injects values here
        assert not line.strip() or line.split("#")[0].count("=") == 1, line
    code = [c for c in cells if c.cell_type == "code"]
    assert sum("setup(PROFILE, SEEDS, DEVICE, FORCE" in c.source for c in code) == 1
    # the boilerplate is tagged so the site hides it: the parameters and setup cells fold
    # their code, the closing finish(...) cell is dropped
    setup_cell = next(c for c in code if "setup(PROFILE" in c.source)
    assert "hide-input" in params[0].metadata["tags"] and "hide-input" in setup_cell.metadata["tags"]
    assert "remove-cell" in code[-1].metadata.get("tags", []) and "finish(" in code[-1].source
