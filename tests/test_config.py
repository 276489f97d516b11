import dataclasses

import pytest

from umalib import config


@pytest.mark.parametrize("name", config.PROFILES)
def test_profiles_load_describe_and_key_stably(name):
    p = config.load(name)
    assert p.name == name
    # every deviation from the paper is in the description the notebooks print
    assert p.describe().startswith(f"profile {name}") and p.notes
    assert all(f"  - {n}" in p.describe() for n in p.notes)
    # the JSON that cache keys hash is the same for two loads and changes with a value
    assert config.canonical_json(p) == config.canonical_json(config.load(name))
    assert config.canonical_json(p) != config.canonical_json(config.load(name, seed=p.seed + 1))


def test_profiles_say_how_they_deviate():
    assert any("Fashion-MNIST" in n for n in config.load("quick").notes)
    assert any("meaningless" in n for n in config.load("smoke").notes)
    assert config.load("paper").data.dataset == "cifar10"
    assert config.load("paper").model.arch == "resnet50"


def test_unknown_profile_names_are_refused():
    with pytest.raises(ValueError, match="smoke.*quick.*paper"):
        config.load("fast")


@pytest.mark.parametrize("field,value,match", [
    ("attack.eps", (1.5,), "attack.eps"),
    ("attack.eps", (-0.1,), "attack.eps"),
    ("attack.steps", 0, "attack.steps"),
    ("attack.steps", -3, "attack.steps"),
    ("attack.loss", "l2", "attack.loss.*kl"),
    ("data.dataset", "mnist", "data.dataset.*fashion-mnist"),
    ("model.arch", "vgg", "model.arch"),
    ("defense.adv_methods", ("retrain",), "defense.adv_methods.*forget hook"),
    ("ablation.methods", ("XX",), "ablation.methods"),
    ("scenario.forget_classes", (), "scenario.forget_classes"),
    ("generative.eps", 2.0, "generative.eps"),
    # budgets and step sizes are fractions of the pixel range, never units of 1/255
    ("generative.budget_eps", (8, 16), "generative.budget_eps.*fractions of the pixel range"),
    ("generative.budget_eps", (0.0, 8 / 255), "generative.budget_eps"),
    ("ablation.step_sizes", (0.5, 1.0, 4.0), "ablation.step_sizes.*fractions of the pixel range"),
    ("ablation.step_sizes", (float("nan"),), "ablation.step_sizes"),
    ("ablation.fixed_step_size", 2.0, "ablation.fixed_step_size.*fractions of the pixel range"),
])
def test_bad_values_name_the_field(field, value, match):
    with pytest.raises(ValueError, match=match):
        config.load("quick", **{field: value})


def test_budgets_and_step_sizes_are_fractions():
    for name in config.PROFILES:
        p = config.load(name)
        assert all(0 < e <= 1 for e in p.generative.budget_eps)
        assert all(0 < s <= 1 for s in p.ablation.step_sizes + (p.ablation.fixed_step_size,))
    assert config.load("smoke").generative.budget_eps == (4 / 255, 8 / 255)
    assert config.load("quick").generative.budget_eps == tuple(k / 255 for k in (2, 4, 8, 16, 32))
    assert config.load("paper").generative.budget_eps == tuple(k / 255 for k in (2, 4, 8, 16, 32, 64))
    assert config.load("quick").ablation.fixed_step_size == 1 / 255
    assert config.load("smoke").ablation.step_sizes == (0.5 / 255, 1 / 255, 4 / 255)


def test_overrides_dotted_and_double_underscore():
    p = config.load("quick", seed=3, **{"attack.steps": 7}, train__epochs=2)
    assert (p.seed, p.attack.steps, p.train.epochs) == (3, 7, 2)
    assert config.load("quick", **{"attack.eps": [8 / 255]}).attack.eps == (8 / 255,)
    with pytest.raises(ValueError, match="unknown config field"):
        config.load("quick", **{"attack.stepz": 1})


def test_frozen():
    p = config.load("smoke")
    with pytest.raises(dataclasses.FrozenInstanceError):
        p.seed = 1  # type: ignore[misc]
