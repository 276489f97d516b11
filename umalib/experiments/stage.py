"""What every cached stage returns, and the one way stages build or load a model."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Iterable, Mapping, Sequence

import torch
from torch import nn

from .. import cache
from ..provenance import code_key

# Code roots (:mod:`umalib.provenance`) of the discriminative stages: the library modules each
# builder calls. A stage adds its builder method where it makes its key (the stage methods and
# helpers that builder calls are followed from it); upstream code enters through upstream keys.
ORIGINAL_CODE = ("umalib.models.classifiers", "umalib.train", "umalib.data.splits")
EVAL_CODE = ("umalib.metrics.classification", "umalib.metrics.mia", "umalib.data.splits")
UMA_CODE = ("umalib.attacks.uma", "umalib.data.splits")
RELEARN_CODE = ("umalib.attacks.relearn", "umalib.data.splits")


def stage_key(stage: str, config: Any, upstream: Sequence[str] = (), data: str = "",
              code: Iterable[Any] = ()) -> str:
    """The cache key of a stage's artifact (:func:`umalib.cache.make_key`), with ``code`` the
    stage's code roots: modules and builder functions, hashed by
    :func:`umalib.provenance.code_key`."""
    return cache.make_key(stage, config, upstream, data, code=code_key(code))


@dataclass
class Built:
    """A model from a stage: the model (eval mode), its cache key, metadata and whether it was
    read from the cache (``hit``)."""

    model: nn.Module
    key: str
    meta: dict[str, Any]
    hit: bool


def cpu_state(model: nn.Module) -> dict[str, torch.Tensor]:
    """``model.state_dict()`` detached, contiguous and on the CPU (what the cache stores)."""
    return {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}


def cached_model(stage: str, key: str,
                 build: Callable[[], tuple[Mapping[str, Any], Mapping[str, Any]]],
                 load: Callable[[dict[str, torch.Tensor]], nn.Module], force: bool) -> Built:
    """The model of artifact ``stage/key``: read from the cache, or ``build()`` (returning
    ``(state_dict, meta)``) and saved; ``load(state_dict)`` turns the tensors into the model."""
    tensors, meta, hit = cache.cached(stage, key, build, force)
    return Built(load(tensors), key, meta, hit)
