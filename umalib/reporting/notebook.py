"""The setup every notebook of the series shares, in one call."""

from __future__ import annotations

import sys
import warnings
from typing import Any, Sequence

from .. import config
from ..config import Profile
from ..experiments.discriminative import Experiment
from ..experiments.runs import SeedRuns
from .files import shown_path


def _show_warning(message: Warning | str, category: type[Warning], filename: str, lineno: int,
                  file: Any = None, line: str | None = None) -> None:
    # A published notebook shows warnings without this machine's paths.
    print(f"{category.__name__}: {message} ({shown_path(filename)}:{lineno})",
          file=file or sys.stderr)


def setup(profile: str, seeds: Sequence[int] | None = None, device: str = "cpu",
          force: bool = False) -> tuple[Profile, SeedRuns, Experiment, dict[str, Any]]:
    """Load and validate the profile, print how it deviates from the paper, and return
    ``(cfg, runs, exp, RESULTS)``: the profile (with the seeds in force), one experiment per
    seed (every table is computed per seed and shown as mean ± std), the first seed's experiment
    (for single-run figures) and the dict of numbers the notebook records for the tests.
    From then on, warnings are shown with repository-relative paths."""
    warnings.showwarning = _show_warning
    runs = SeedRuns(config.load(profile), seeds, device=device, force=force)
    print(runs.profile.describe())
    return runs.profile, runs, runs.first, {"seeds": list(runs.seeds)}
