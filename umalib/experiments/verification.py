"""The verifier on the profile's own models (``exp.verification``, notebook 02): what
``python -m umalib verify`` reports for the class-wise and instance-wise models that notebook
01 built, with their retrained model as the reference, so the CLI's numbers have a spread over
seeds.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pandas as pd

from .. import cache
from .stage import stage_key
from ..data.splits import to_float
from ..verify import decide, verify

if TYPE_CHECKING:
    from .discriminative import Experiment

VERIFY_CODE = ("umalib.verify", "umalib.attacks.uma", "umalib.metrics.classification",
               "umalib.metrics.mia", "umalib.data.splits")

# The lines of a report that the table shows, and the short verdict word.
LINES = ("clean", "standard", "strong", "label-guided")


class VerificationStages:
    """``report(kind, method)``: the cached :class:`umalib.verify.Report` (as a dict) of one of
    the profile's unlearned models; ``table()``: one row per ``profile.verify.models``."""

    def __init__(self, exp: Experiment) -> None:
        self.exp = exp

    def report_key(self, kind: str, method: str) -> str:
        e, p = self.exp, self.exp.profile
        # one report reads the budget, strength, sample count and threshold, not the list of
        # models: adding a (scenario, method) pair must not rerun the others
        v = {f: getattr(p.verify, f) for f in ("eps", "strength", "max_samples", "threshold")}
        cfg = {"verify": v, "kind": kind, "steps": p.attack.steps,
               "step_size": p.attack.step_size, "fast": p.attack.fast,
               "batch_size": p.attack.batch_size, "mia_shadow_max": p.mia_shadow_max,
               "seed": p.seed}
        return stage_key("verify", cfg, upstream=[e.original_key(), e.unlearned_key(kind, method),
                                                  e.unlearned_key(kind, "retrain")],
                         data=e.splits.fingerprint,
                         code=VERIFY_CODE + (VerificationStages.report,))

    def report(self, kind: str, method: str) -> dict[str, Any]:
        """:meth:`umalib.verify.Report.to_dict` of ``method``'s model in scenario ``kind``."""
        e, p = self.exp, self.exp.profile
        v = p.verify

        def build() -> tuple[dict, dict]:
            sd = e.scenario(kind)
            part = {name: (to_float(x), y) for name, (x, y) in
                    (("forget", sd.forget), ("retain", sd.retain), ("test", sd.test))}
            rep = verify(e.original().model, e.unlearned(kind, method).model, part["forget"],
                         retrained=e.unlearned(kind, "retrain").model, retain=part["retain"],
                         test=part["test"], eps=v.eps, strength=v.strength, steps=p.attack.steps,
                         step_size=p.attack.step_size, max_samples=v.max_samples,
                         threshold=v.threshold, scenario=kind, mia_shadow=p.mia_shadow_max,
                         seed=p.seed, batch_size=p.attack.batch_size, fast=p.attack.fast,
                         # Tables 1-2 run the relearning probe on these models (relearn_*):
                         # not again here
                         relearn_steps=0, device=e.device, progress=e.progress)
            return {}, rep.to_dict()

        _, meta, _ = cache.cached("verify", self.report_key(kind, method), build, e.force)
        return meta

    def table(self) -> pd.DataFrame:
        """Per (scenario, method): mapped-back and residual shares (%) of each report line, the
        attacked UA (%), the verdict word and seconds per 1,000 samples."""
        rows = []
        for kind, method in self.exp.profile.verify.models:
            r = self.report(kind, method)
            lines = {"clean": r["clean"], **{a["name"]: a for a in r["attacks"]}}
            if r["upper_bound"]:
                lines["label-guided"] = r["upper_bound"]
            row: dict[str, Any] = {"method": f"{method} ({kind})", "samples": r["samples"]}
            for name in LINES:
                o = lines.get(name)
                tag = name.replace("-", "_")
                row[f"UA_{tag}"] = 100 * o["UA"]["value"] if o else float("nan")
                row[f"mapped_{tag}"] = 100 * o["mapped_back"]["value"] if o else float("nan")
                row[f"residual_{tag}"] = (100 * o["residual"]["value"]
                                          if o and o["residual"] else float("nan"))
            row["verdict"] = r["decision"]
            std = lines["standard"]["residual"]  # the same rule on the paper's attack alone
            row["verdict_standard"] = decide(std["lo"], std["hi"], r["threshold"])
            row["s_per_1000"] = r["seconds_per_1000_samples"]
            rows.append(row)
        return pd.DataFrame(rows)
