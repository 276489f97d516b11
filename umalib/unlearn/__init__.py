"""Discriminative unlearning methods, one file each, behind one registry.

Every method has the same call shape::

    unlearn(name, original, retain_loader, forget_loader, cfg, seed=..., device=..., ...) -> model

and returns a NEW model (the original is never modified). ``retrain`` uses the original only
for its architecture. Methods that use the forget set accept ``forget_hook`` for adversarial
unlearning (:mod:`umalib.defenses.adversarial_unlearning`).
"""

from __future__ import annotations

from typing import Callable

from torch import nn

from ..config import FORGET_SET_METHODS, METHODS, MethodConfig
from ..data import BatchLoader
from .ft import ft
from .ga import ga
from .iu import iu
from .l1_sparse import l1_sparse
from .retrain import retrain
from .rl import rl
from .salun import salun

UNLEARNING_METHODS: dict[str, Callable[..., nn.Module]] = {
    "retrain": retrain, "FT": ft, "RL": rl, "GA": ga, "IU": iu, "l1-sparse": l1_sparse,
    "SalUn": salun,
}
assert tuple(UNLEARNING_METHODS) == METHODS  # one list of names: umalib.config
assert set(FORGET_SET_METHODS) <= set(METHODS)


def get_method(name: str) -> Callable[..., nn.Module]:
    """The method function by name; ValueError listing the known names otherwise."""
    if name not in UNLEARNING_METHODS:
        raise ValueError(f"unknown unlearning method {name!r}; known: {list(UNLEARNING_METHODS)}")
    return UNLEARNING_METHODS[name]


def unlearn(name: str, original: nn.Module, retain: BatchLoader, forget: BatchLoader,
            cfg: MethodConfig, **kwargs: object) -> nn.Module:
    """Run unlearning method ``name`` and return the unlearned model.

    Args:
        name: one of :data:`UNLEARNING_METHODS`.
        original: the trained model (not modified).
        retain / forget: loaders over the retain and forget sets.
        cfg: the method's hyperparameters.
        kwargs: ``seed``, ``device``, ``progress``; ``recipe`` (retrain); ``forget_hook`` and
            ``hook_weight`` (RL, GA, SalUn).
    """
    return get_method(name)(original, retain, forget, cfg, **kwargs)
