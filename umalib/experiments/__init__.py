"""Cached experiment stages: every notebook's inputs, built or read from the cache by key.

One style throughout: an :class:`Experiment` of a profile owns the discriminative stages and
three stage groups (``exp.generative``, ``exp.defenses``, ``exp.ablations``); each stage is a
``<stage>_key(...)`` method plus a ``<stage>(...)`` method returning :class:`Built` (a model)
or a dict of tensors (an attack). :mod:`.tables` turns stages into the notebooks' tables.
"""

from .discriminative import Experiment
from .stage import Built, cpu_state

__all__ = ["Experiment", "Built", "cpu_state"]
