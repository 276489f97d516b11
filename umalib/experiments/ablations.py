"""Appendix A.1 ablations (``exp.ablations``): UMA efficacy against the number of steps and
the step size.

The steps sweep runs the attack ONCE at the largest step count and reads the metric at every
smaller count from the same trajectory (``record_steps``): with ``keep_best`` the iterate a
t-step run would return is the best-so-far over the first t steps, so one run gives them all.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Sequence

import pandas as pd
import torch

from .. import cache
from ..attacks.probe import run_probe
from ..budget import to_255
from ..metrics.mia import MIAAttacker, ua_mia
from .stage import UMA_CODE, stage_key

if TYPE_CHECKING:
    from .discriminative import Experiment


class AblationStages:
    """The ablation stages of an :class:`Experiment`: UMA swept over steps and step sizes."""

    def __init__(self, exp: Experiment) -> None:
        self.exp = exp
        self._mias: dict[tuple[str, str], MIAAttacker] = {}

    def _attack_recorded(self, kind: str, method: str, eps: float, step_size: float,
                         steps: int, record: Sequence[int], max_samples: int | None
                         ) -> dict[int, torch.Tensor]:
        """Cached UMA run returning the unlearned model's logits at each recorded step count."""
        a = self.exp.profile.attack
        cfg = {"eps": eps, "step_size": step_size, "steps": steps, "record": sorted(set(record)),
               "max_samples": max_samples, "loss": a.loss, "init": a.init, "restarts": a.restarts,
               "momentum": a.momentum, "fast": a.fast, "kind": kind,
               "seed": self.exp.profile.seed}
        key = stage_key("ablation", cfg, upstream=[self.exp.original_key(),
                                                   self.exp.unlearned_key(kind, method)],
                        data=self.exp.splits.fingerprint,
                        code=UMA_CODE + (AblationStages._attack_recorded,))

        def build() -> tuple[dict, dict]:
            exp = self.exp
            x, y = exp.scenario(kind).attack_subset(max_samples, exp.profile.seed)
            res = run_probe("uma", exp.original().model, exp.unlearned(kind, method).model, x,
                            labels=y, eps=eps, step_size=step_size, steps=steps, loss=a.loss,
                            init=a.init, restarts=a.restarts, momentum=a.momentum,
                            batch_size=a.batch_size, fast=a.fast,
                            record_steps=sorted(set(record)), seed=exp.profile.seed,
                            device=exp.device, progress=exp.progress)
            tensors = {f"step_{t}": o for t, o in res.recorded.items()}
            tensors["y"] = y
            return tensors, {"seconds": res.seconds}

        tensors, _, _ = cache.cached("ablation", key, build, self.exp.force)
        recorded = {int(k[5:]): v for k, v in tensors.items() if k.startswith("step_")}
        return recorded | {-1: tensors["y"]}


    def figure4(self) -> pd.DataFrame:
        """:meth:`steps_sweep` with the profile's ablation settings (the paper's Figure 4)."""
        ab = self.exp.profile.ablation
        return self.steps_sweep(ab.methods, ab.steps, eps=ab.eps,
                                step_size=ab.fixed_step_size, kind=ab.scenario,
                                max_samples=ab.max_samples)

    def figure5(self) -> pd.DataFrame:
        """:meth:`stepsize_sweep` with the profile's ablation settings (the paper's Figure 5)."""
        ab = self.exp.profile.ablation
        return self.stepsize_sweep(ab.methods, ab.step_sizes, eps=ab.eps, steps=ab.fixed_steps,
                                   kind=ab.scenario, max_samples=ab.max_samples)

    def _mia(self, kind: str, method: str) -> MIAAttacker:
        """The MIA attacker of ``method``'s model, fitted once per these stages (Figures 4
        and 5 score the same models)."""
        if (kind, method) not in self._mias:
            model = self.exp.unlearned(kind, method).model
            self._mias[kind, method] = self.exp.mia_attacker(model, kind)
        return self._mias[kind, method]

    def steps_sweep(self, methods: Sequence[str], steps: Sequence[int], *, eps: float,
                    step_size: float, kind: str = "classwise", max_samples: int | None = None
                    ) -> pd.DataFrame:
        """Rows ``method, steps, UA, MIA``: one attack per method at ``max(steps)``, every other
        step count read from its trajectory. ``step_size`` and ``eps`` in pixel units."""
        rows = []
        for m in methods:
            rec = self._attack_recorded(kind, m, eps, step_size, max(steps), steps, max_samples)
            y = rec.pop(-1)
            mia = self._mia(kind, m)
            rows += [{"method": m, "steps": t, **ua_mia(rec[t], y, mia)} for t in steps]
        return pd.DataFrame(rows, columns=["method", "steps", "UA", "MIA"])


    def stepsize_sweep(self, methods: Sequence[str], step_sizes: Sequence[float], *,
                       eps: float, steps: int, kind: str = "classwise",
                       max_samples: int | None = None) -> pd.DataFrame:
        """Rows ``method, step_size, UA, MIA``, ``steps`` each. ``step_sizes`` and ``eps`` in
        pixel units (fractions, e.g. 1 / 255); the published ``step_size`` column is in units
        of 1/255 (:func:`umalib.budget.to_255`: 1 / 255 -> 1.0)."""
        rows = []
        for m in methods:
            mia = self._mia(kind, m)
            for s in step_sizes:
                rec = self._attack_recorded(kind, m, eps, s, steps, [steps], max_samples)
                y = rec.pop(-1)
                rows.append({"method": m, "step_size": to_255(s), **ua_mia(rec[steps], y, mia)})
        return pd.DataFrame(rows, columns=["method", "step_size", "UA", "MIA"])
