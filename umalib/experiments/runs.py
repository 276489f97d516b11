"""One experiment per seed: every number of a notebook is computed for each of the profile's
seeds and then aggregated (:mod:`umalib.reporting.seeds`)."""

from __future__ import annotations

import dataclasses
from typing import Any, Callable, Iterator, Sequence

from ..config import Profile
from .discriminative import Experiment


class SeedRuns:
    """The :class:`Experiment` of each seed of a profile.

    A seed changes everything downstream of it: the seeded parts of the data split (validation
    hold-out, subsets, the instance-wise forget set, the attack subset), the original model,
    every unlearning and every attack start.

    Args:
        profile: the profile; ``profile.seeds`` unless ``seeds`` is given.
        seeds: the seeds to run (distinct integers >= 0).
        device / progress / force: as :class:`Experiment`.
    """

    def __init__(self, profile: Profile, seeds: Sequence[int] | None = None, *,
                 device: str = "cpu", progress: bool = True, force: bool = False) -> None:
        seeds = tuple(profile.seeds if seeds is None else seeds)
        # validates the seeds (ValueError naming the field) before any compute
        profile = dataclasses.replace(profile, seeds=seeds, seed=seeds[0])
        self.profile = profile
        self.seeds = seeds
        self.experiments = {s: Experiment(dataclasses.replace(profile, seed=s), device=device,
                                          progress=progress, force=force) for s in seeds}

    @property
    def first(self) -> Experiment:
        """The first seed's experiment (for single-run illustrations: example images, curves)."""
        return self.experiments[self.seeds[0]]

    def __iter__(self) -> Iterator[tuple[int, Experiment]]:
        return iter(self.experiments.items())

    def map(self, fn: Callable[[Experiment], Any]) -> dict[int, Any]:
        """``{seed: fn(experiment of that seed)}``, seeds in order."""
        return {s: fn(e) for s, e in self.experiments.items()}
