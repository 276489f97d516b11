"""Per-artifact code keys: an edit rebuilds only the artifacts whose builders use the edited code.

Each test copies the package source, edits one file of the copy, points
``umalib.provenance.SOURCE_DIR`` at it and compares the stage keys before and after.
"""

import shutil
from pathlib import Path

import pytest

import umalib
from umalib import config, provenance
from umalib.experiments import Experiment

from conftest import requires_fmnist

pytestmark = requires_fmnist

EDIT = "\n_EDITED_FOR_A_TEST = 1\n"  # a real code change (an extra statement)


@pytest.fixture()
def source(tmp_path, monkeypatch):
    copy = tmp_path / "umalib"
    shutil.copytree(Path(umalib.__file__).parent, copy,
                    ignore=shutil.ignore_patterns("__pycache__"))
    monkeypatch.setattr(provenance, "SOURCE_DIR", copy)
    provenance.clear()
    yield copy
    provenance.clear()


@pytest.fixture(scope="module")
def exp():
    return Experiment(config.load("smoke"), progress=False)


def keys(exp: Experiment) -> dict[str, str]:
    """Every kind of stage key, discriminative, generative and defence."""
    provenance.clear()
    k = {"original": exp.original_key(), "mae": exp.generative.original_key(),
         "vae": exp.defenses.vae_key()}
    for m in ("FT", "SalUn", "retrain"):
        k[f"unlearned {m}"] = exp.unlearned_key("classwise", m)
        k[f"uma {m}"] = exp.attack_key("classwise", m, 8 / 255)
    for m in ("I2I", "SalUn"):
        k[f"mae_unlearned {m}"] = exp.generative.unlearned_key(m)
    k["adv SalUn"] = exp.defenses.adv_key("classwise", "SalUn")
    return k


def edit(path: Path, text: str = EDIT) -> None:
    path.write_text(path.read_text() + text)


def changed(before: dict, after: dict) -> set[str]:
    return {n for n in before if before[n] != after[n]}


def test_editing_salun_rebuilds_salun_and_downstream_not_ft(source, exp):
    before = keys(exp)
    edit(source / "unlearn" / "salun.py")
    after = keys(exp)
    assert changed(before, after) == {"unlearned SalUn", "uma SalUn", "adv SalUn"}


def test_editing_the_mae_leaves_classifier_keys(source, exp):
    before = keys(exp)
    edit(source / "models" / "mae.py")
    assert changed(before, keys(exp)) == {"mae", "mae_unlearned I2I", "mae_unlearned SalUn"}


def test_editing_reporting_cli_or_config_leaves_every_key(source, exp):
    before = keys(exp)
    for f in list((source / "reporting").glob("*.py")) + list((source / "cli").glob("*.py")):
        edit(f)
    edit(source / "config.py")  # its values enter keys as values, not as source
    assert changed(before, keys(exp)) == set()


def test_comments_and_docstrings_do_not_count(source, exp):
    before = keys(exp)
    f = source / "models" / "classifiers.py"
    text = f.read_text().replace('"""Classifiers used in the experiments.', '"""Reworded docstring.', 1)
    f.write_text(text + "\n# a comment\n")
    assert changed(before, keys(exp)) == set()


def test_a_shared_dependency_rebuilds_everything_that_uses_it(source, exp):
    before = keys(exp)
    edit(source / "train.py")  # used by the original, every unlearning loop and the VAE
    assert {"original", "unlearned FT", "unlearned SalUn", "vae"} <= changed(before, keys(exp))
    assert "mae" not in changed(before, keys(exp))


def test_closure_follows_imports_precisely():
    provenance.clear()
    sal = provenance.module_closure("umalib.unlearn.salun")
    assert {"umalib.unlearn.salun", "umalib.unlearn.rl", "umalib.unlearn._loop",
            "umalib.unlearn.saliency", "umalib.train"} <= sal
    assert "umalib.unlearn.ft" not in sal and "umalib.models.mae" not in sal
    # a name imported from a package counts as its defining submodule
    assert "umalib.metrics.generative" not in provenance.module_closure("umalib.defenses.purifier")
    assert not any(provenance.is_hashed(m) for m in ("umalib.config", "umalib.reporting.plots",
                                                     "umalib.cli.reproduce", "umalib.cache"))


def test_explanatory_config_text_is_not_hashed(exp):
    import dataclasses

    methods = dict(exp.profile.methods)
    methods["FT"] = dataclasses.replace(methods["FT"], note="reworded")
    other = Experiment(dataclasses.replace(exp.profile, methods=methods), progress=False)
    assert other.unlearned_key("classwise", "FT") == exp.unlearned_key("classwise", "FT")
    methods["FT"] = dataclasses.replace(methods["FT"], lr=methods["FT"].lr * 2)
    other = Experiment(dataclasses.replace(exp.profile, methods=methods), progress=False)
    assert other.unlearned_key("classwise", "FT") != exp.unlearned_key("classwise", "FT")


def test_stage_helpers_called_by_a_builder_count(exp):
    """Editing a helper a builder calls (Experiment.scenario builds every forget set) changes
    the keys that depend on it, found by following self.<method> calls, not by hand."""
    from umalib.experiments import Experiment

    names = {f.__qualname__ for f in provenance.builder_functions(Experiment.unlearned)}
    assert {"Experiment.scenario", "Experiment.original", "cpu_state"} <= names
    assert not any(n.startswith("GenerativeStages") for n in names)
    from umalib.experiments.defenses import DefenseStages

    row = {f.__qualname__ for f in provenance.builder_functions(DefenseStages.plain_row)}
    assert {"Experiment.mia_attacker", "Experiment.evaluate_with_attacker"} <= row
