"""The generative stages' cache keys hold only the config fields each stage reads
(``_MAE_FIELDS`` ...), so that a new budget does not retrain the MAE. These tests tie those lists
to the builders' code: every ``generative.<field>`` a builder (or any stage method it reaches)
reads must be in its stage's list, or enter the key another way, named here."""

from __future__ import annotations

import ast
import dataclasses
import inspect
import textwrap

import pytest

from umalib.config import GenerativeConfig
from umalib.experiments import generative as gen
from umalib.experiments.generative import GenerativeStages
from umalib.provenance import builder_functions

STAGES = {
    "original": (GenerativeStages.original, gen._MAE_FIELDS),
    "unlearned": (GenerativeStages.unlearned, gen._UNLEARN_FIELDS),
    "attacked": (GenerativeStages.attacked, gen._ATTACK_FIELDS),
    "feature_net": (GenerativeStages.feature_net, gen._FEATURE_FIELDS),
}
# Reads that enter a key other than through the field lists (the sampled images through the
# data fingerprint, the resolved eps and step of an attack as values), or cannot change one.
OTHER_ROUTES = {
    "GenerativeStages.splits": "the data fingerprint of the sampled images",
    "GenerativeStages.budget": "the attack key's eps, step_size and steps values",
    "GenerativeStages._steps": "the attack key's steps value (budget resolves it)",
    "GenerativeStages._check_fid_samples": "a refusal: it never changes an artifact",
}


def _config_reads(fn) -> set[str]:
    """Names read as ``self.g.<name>`` or ``g.<name>`` (``g`` bound to ``self.g``) in ``fn``."""
    tree = ast.parse(textwrap.dedent(inspect.getsource(fn)))
    aliases = {t.id for node in ast.walk(tree) if isinstance(node, ast.Assign)
               and isinstance(node.value, ast.Attribute) and node.value.attr == "g"
               for t in node.targets if isinstance(t, ast.Name)}
    reads = set()
    for node in ast.walk(tree):
        if not isinstance(node, ast.Attribute):
            continue
        v = node.value
        if (isinstance(v, ast.Attribute) and v.attr == "g" and isinstance(v.value, ast.Name)
                and v.value.id == "self") or (isinstance(v, ast.Name) and v.id in aliases):
            reads.add(node.attr)
    return reads


def _unwrap(f):
    return f.fget if isinstance(f, property) else getattr(f, "func", f)


@pytest.mark.parametrize("stage", sorted(STAGES))
def test_every_field_a_builder_reads_is_in_its_key(stage):
    root, fields = STAGES[stage]
    fields_known = {f.name for f in dataclasses.fields(GenerativeConfig)}
    assert set(fields) <= fields_known, f"unknown fields in the {stage} list"
    missing = {}
    for f in builder_functions(root):
        name = f.__qualname__
        if name in OTHER_ROUTES:
            continue
        extra = _config_reads(f) - set(fields)
        if extra:
            missing[name] = sorted(extra)
    assert not missing, (f"{stage}: these generative fields are read but not in its key "
                         f"(add them to the stage's field list): {missing}")


def test_the_check_sees_reads():
    # the AST reader finds both spellings, so an empty result above means something
    reads = _config_reads(GenerativeStages.unlearned)
    assert {"unlearn_epochs", "salun_retain_weight", "unlearn_lr"} <= reads
    assert {"unlearn_samples"} <= _config_reads(GenerativeStages.unlearn_data)
    assert {"train_subset", "eval_samples"} <= _config_reads(_unwrap(GenerativeStages.splits))
    names = {f.__qualname__ for f in builder_functions(GenerativeStages.attacked)}
    assert {"GenerativeStages.budget", "GenerativeStages.eval_set"} <= names


def test_a_field_left_out_fails():
    # the same check on a list without unlearn_lr must report it
    fields = tuple(f for f in gen._UNLEARN_FIELDS if f != "unlearn_lr")
    extra = set()
    for f in builder_functions(GenerativeStages.unlearned):
        if f.__qualname__ not in OTHER_ROUTES:
            extra |= _config_reads(f) - set(fields)
    assert extra == {"unlearn_lr"}


def _smoke_stages():
    from types import SimpleNamespace

    from umalib import config

    split = SimpleNamespace(shape=(1, 28, 28), name="fashion-mnist", num_classes=10,
                            fingerprint="data")
    exp = SimpleNamespace(profile=config.load("smoke"), splits=split, force=False)
    return GenerativeStages(exp)


def test_attacks_are_numbers_and_only_the_tables_render_them():
    stages = _smoke_stages()
    none, bounded, unbounded = stages.attacks
    assert none == gen.NO_ATTACK and (none.eps, none.steps) == (0.0, 0)
    assert bounded == gen.Attack(8 / 255, 1 / 255, 3)  # Table 7's eps keeps generative.step_size
    assert unbounded == gen.Attack(None, 4 / 255, 3)
    assert [a.label for a in stages.attacks] == ["none", "8/255", "unbounded"]
    # a curve budget resolves to the config's own value (a relative 1e-6 apart is the same)
    assert stages.budget(4 / 255 * (1 + 1e-9)) == gen.Attack(4 / 255, 1 / 255, 3)
    # rendered text, units of 1/255 and budgets outside the config are refused
    for bad in ("8/255", "unbounded", "none", 8, 16 / 255, True):
        with pytest.raises(ValueError, match="fraction of the pixel range"):
            stages.budget(bad)


def test_the_attack_key_is_computed_from_numbers(monkeypatch):
    stages = _smoke_stages()
    seen = []
    monkeypatch.setattr(GenerativeStages, "_key",
                        lambda self, stage, extra, *a, **k: seen.append((stage, extra)) or stage)
    monkeypatch.setattr(GenerativeStages, "unlearned_key", lambda self, method: "unlearned")
    monkeypatch.setattr(gen.cache, "cached", lambda name, key, build, force: ({}, {}, False))
    stages.attacked("I2I", "forget", 4 / 255)
    stages.attacked("SalUn", "retain", None)
    assert seen == [("mae_uma", {"method": "I2I", "side": "forget", "eps": 4 / 255,
                                 "step_size": 1 / 255, "steps": 3}),
                    ("mae_uma", {"method": "SalUn", "side": "retain", "eps": None,
                                 "step_size": 4 / 255, "steps": 3})]
