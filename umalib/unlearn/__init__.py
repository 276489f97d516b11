"""Discriminative unlearning methods, one file each, behind one registry
(:mod:`umalib.unlearn.registry`).

Every method has the same call shape::

    unlearn(name, original, retain_loader, forget_loader, cfg, seed=..., device=..., ...) -> model

and returns a NEW model (the original is never modified). ``retrain`` uses the original only
for its architecture. Methods registered with ``accepts_forget_hook`` take ``forget_hook`` for
adversarial unlearning (:mod:`umalib.defenses.adversarial_unlearning`). Importing this package
registers the built-in methods; ``register_method`` adds your own.
"""

from __future__ import annotations

from torch import nn

from ..config import MethodConfig
from ..data import BatchLoader
# Importing a method's module registers it (table order = umalib.config.DEFAULT_METHODS).
from .retrain import RetrainConfig, retrain
from .ft import FTConfig, ft
from .rl import RLConfig, rl
from .ga import GAConfig, ga
from .iu import IUConfig, iu
from .l1_sparse import L1SparseConfig, l1_sparse
from .salun import SalUnConfig, salun
from .scrub import SCRUBConfig, scrub
from .neggrad_plus import NegGradPlusConfig, neggrad_plus
from .registry import METHOD_REGISTRY, MethodSpec, method_spec, register_method

__all__ = ["METHOD_REGISTRY", "MethodSpec", "register_method", "method_spec", "get_method",
           "unlearn", "retrain", "ft", "rl", "ga", "iu", "l1_sparse", "salun", "scrub",
           "neggrad_plus", "RetrainConfig", "FTConfig", "RLConfig", "GAConfig", "IUConfig",
           "L1SparseConfig", "SalUnConfig", "SCRUBConfig", "NegGradPlusConfig"]


def get_method(name: str):
    """The method function registered as ``name``; ValueError listing the known names otherwise."""
    return method_spec(name).fn


def unlearn(name: str, original: nn.Module, retain: BatchLoader, forget: BatchLoader,
            cfg: MethodConfig, **kwargs: object) -> nn.Module:
    """Run the registered unlearning method ``name`` and return the unlearned model.

    Args:
        name: a registered method (``METHOD_REGISTRY``).
        original: the trained model (not modified).
        retain / forget: loaders over the retain and forget sets.
        cfg: the method's hyperparameters (an instance of its registered config class).
        kwargs: ``seed``, ``device``, ``progress``; ``recipe`` (retrain); ``forget_hook`` and
            ``hook_weight`` (methods that accept a forget hook).
    Raises:
        ValueError: unknown method, or ``cfg`` is not the method's config class.
    """
    spec = method_spec(name)
    if not isinstance(cfg, spec.config):
        raise ValueError(f"{name}: cfg must be a {spec.config.__name__}, got {type(cfg).__name__}")
    return spec.fn(original, retain, forget, cfg, **kwargs)
