"""Appendix A.1 ablations: UMA efficacy against the number of steps and the step size.

The steps sweep runs the attack ONCE at the largest step count and reads the metric at every
smaller count from the same trajectory (``record_steps``): with ``keep_best`` the iterate a
t-step run would return is the best-so-far over the first t steps, so one run gives them all.
"""

from __future__ import annotations

from typing import Sequence

import pandas as pd
import torch

from . import cache
from .attacks import uma
from .metrics import ua_mia
from .stages import Experiment


def _attack_recorded(exp: Experiment, kind: str, method: str, eps: float, step_size: float,
                     steps: int, record: Sequence[int], max_samples: int | None
                     ) -> dict[int, torch.Tensor]:
    """Cached UMA run returning the unlearned model's logits at each recorded step count."""
    a = exp.profile.attack
    cfg = {"eps": eps, "step_size": step_size, "steps": steps, "record": sorted(set(record)),
           "max_samples": max_samples, "loss": a.loss, "init": a.init, "restarts": a.restarts,
           "momentum": a.momentum, "kind": kind, "seed": exp.profile.seed}
    key = cache.make_key("ablation", cfg, upstream=[exp.original_key(),
                                                    exp.unlearned_key(kind, method)],
                         data=exp.splits.fingerprint)

    def build() -> tuple[dict, dict]:
        x, y = exp.scenario(kind).attack_subset(max_samples, exp.profile.seed)
        res = uma(exp.original().model, exp.unlearned(kind, method).model, x, labels=y, eps=eps,
                  step_size=step_size, steps=steps, loss=a.loss, init=a.init,
                  restarts=a.restarts, momentum=a.momentum, batch_size=a.batch_size,
                  record_steps=sorted(set(record)), seed=exp.profile.seed, device=exp.device,
                  progress=exp.progress)
        tensors = {f"step_{t}": o for t, o in res.recorded.items()}
        tensors["y"] = y
        return tensors, {"seconds": res.seconds}

    tensors, _, _ = cache.cached("ablation", key, build, exp.force)
    return {int(k[5:]): v for k, v in tensors.items() if k.startswith("step_")} | {-1: tensors["y"]}


def steps_sweep(exp: Experiment, methods: Sequence[str], steps: Sequence[int], *, eps: float,
                step_size: float, kind: str = "classwise", max_samples: int | None = None
                ) -> pd.DataFrame:
    """Rows ``method, steps, UA, MIA``: one attack per method at ``max(steps)``, every other
    step count read from its trajectory. ``step_size`` and ``eps`` in pixel units."""
    rows = []
    for m in methods:
        rec = _attack_recorded(exp, kind, m, eps, step_size, max(steps), steps, max_samples)
        y = rec.pop(-1)
        mia = exp.mia_attacker(exp.unlearned(kind, m).model, kind)
        rows += [{"method": m, "steps": t, **ua_mia(rec[t], y, mia)} for t in steps]
    return pd.DataFrame(rows, columns=["method", "steps", "UA", "MIA"])


def stepsize_sweep(exp: Experiment, methods: Sequence[str], step_sizes_255: Sequence[float], *,
                   eps: float, steps: int, kind: str = "classwise",
                   max_samples: int | None = None) -> pd.DataFrame:
    """Rows ``method, step_size, UA, MIA`` (step size in units of 1/255), ``steps`` each."""
    rows = []
    for m in methods:
        mia = exp.mia_attacker(exp.unlearned(kind, m).model, kind)
        for s in step_sizes_255:
            rec = _attack_recorded(exp, kind, m, eps, s / 255, steps, [steps], max_samples)
            y = rec.pop(-1)
            rows.append({"method": m, "step_size": s, **ua_mia(rec[steps], y, mia)})
    return pd.DataFrame(rows, columns=["method", "step_size", "UA", "MIA"])
