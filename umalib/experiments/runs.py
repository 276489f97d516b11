"""One experiment per seed: every number of a notebook is computed for each of the profile's
seeds and then aggregated (:mod:`umalib.reporting.seeds`)."""

from __future__ import annotations

import dataclasses
import os
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
        device / force: as :class:`Experiment`.
        progress: progress bars; None = on unless ``$UMALIB_PROGRESS`` is "0" (the headless
            runner sets it: a widget bar saved in an executed notebook is a stale snapshot).
    """

    def __init__(self, profile: Profile, seeds: Sequence[int] | None = None, *,
                 device: str = "cpu", progress: bool | None = None, force: bool = False) -> None:
        seeds = tuple(profile.seeds if seeds is None else seeds)
        if progress is None:
            progress = os.environ.get("UMALIB_PROGRESS", "1") != "0"
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

    def unzip(self, fn: Callable[[Experiment], tuple]) -> tuple[dict[int, Any], ...]:
        """For ``fn`` returning a tuple (e.g. a table and its raw results): one
        ``{seed: part}`` dict per element of the tuple."""
        out = self.map(fn)
        width = len(next(iter(out.values())))
        return tuple({s: v[i] for s, v in out.items()} for i in range(width))
