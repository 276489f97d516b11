"""The setup every notebook of the series shares, in one call."""

from __future__ import annotations

import sys
import warnings
from typing import Any, Sequence

from .. import config
from ..config import Profile
from ..experiments.discriminative import Experiment
from ..experiments.runs import SeedRuns
from .claims import Scoreboard
from .files import figures_dir, record, records, shown_path


def _show_warning(message: Warning | str, category: type[Warning], filename: str, lineno: int,
                  file: Any = None, line: str | None = None) -> None:
    # A published notebook shows warnings without this machine's paths.
    print(f"{category.__name__}: {message} ({shown_path(filename)}:{lineno})",
          file=file or sys.stderr)


class Deviations:
    """How a profile deviates from the paper: a collapsed block on a page, a list in text."""

    def __init__(self, profile: Profile) -> None:
        self.text = profile.describe()
        self.n = sum(1 for line in self.text.splitlines() if line.lstrip().startswith("- "))

    def _repr_html_(self) -> str:
        import html

        return (f"<details><summary>Settings of this run: the <code>{self.n}</code> ways the "
                "profile deviates from the paper (click to show)</summary>"
                f"<pre>{html.escape(self.text)}</pre></details>")

    def __repr__(self) -> str:
        return self.text


def setup(profile: str, seeds: Sequence[int] | None = None, device: str = "cpu",
          force: bool = False, notebook: str | None = None,
          overrides: dict[str, Any] | None = None
          ) -> tuple[Profile, SeedRuns, Experiment, Scoreboard | None, dict[str, Any]]:
    """Load and validate the profile and return ``(cfg, runs, exp, board, RESULTS)``: the
    profile (with the seeds in force), one experiment per seed (every table is computed per
    seed and shown as mean ± std), the first seed's experiment (for single-run figures), the
    scoreboard of ``notebook``'s claims (shown first, decided by :func:`finish`; None without
    ``notebook``) and the dict of numbers the notebook records for the tests. ``overrides``
    go to :func:`umalib.config.load` (e.g. ``{"plugins": ["my_lab.uniform"], "methods+":
    "Uniform"}`` runs a method of your own through the notebook).

    Shows the scoreboard, then how the profile deviates from the paper (collapsed on a page).
    From then on, warnings are shown with repository-relative paths."""
    from IPython.display import display

    warnings.showwarning = _show_warning
    runs = SeedRuns(config.load(profile, **(overrides or {})), seeds, device=device, force=force)
    board = Scoreboard(notebook, figures_dir(profile)) if notebook else None
    display(Deviations(runs.profile))
    return runs.profile, runs, runs.first, board, {"seeds": list(runs.seeds)}


def finish(results: dict[str, Any], notebook: str, profile: str,
           board: Scoreboard | None = None) -> None:
    """End a notebook: decide its claims (the scoreboard at the top shows them), add them to
    ``results`` and write ``results_<notebook>.json``."""
    if board is not None:
        results["claims"] = records(board.publish(), key="id")
    record(results, notebook, profile)
