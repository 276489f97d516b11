"""Interactive attack panel (ipywidgets) that also runs headless.

``attack_panel(exp, interactive=False)`` runs :func:`run_attack` once with the defaults and
returns its result, so a papermill execution holds the static result; with
``interactive=True`` (JupyterLab) it shows widgets for method, eps, step size, steps, loss and
restarts and re-runs the attack on demand. No result lives only inside a widget: every run
returns a plain dict and the last one is kept in ``panel.last``. eps and step size are
fractions of the pixel range everywhere (:mod:`umalib.budget`); the sliders show them as k/255.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import matplotlib.pyplot as plt

from .. import budget
from ..attacks.probe import run_probe
from ..config import LOSSES
from ..experiments.discriminative import Experiment
from ..metrics.classification import predictions
from .plots import attack_examples


def run_attack(exp: Experiment, *, method: str = "SalUn", kind: str = "classwise",
               eps: float = 16 / 255, step_size: float = 1 / 255, steps: int = 100,
               loss: str = "kl", restarts: int = 1, max_samples: int | None = 200,
               show: bool = True) -> dict[str, Any]:
    """Run UMA against one unlearned model and return UA / MIA / agreement (and a figure).

    ``eps`` and ``step_size`` are fractions of the pixel range (e.g. 16 / 255), as
    :func:`umalib.attacks.uma` takes them. The forget subset is the seeded one of
    ``Experiment.scenario(kind).attack_subset``. Returns plain floats plus ``figure``.
    """
    if method not in exp.profile.methods:
        raise ValueError(f"method must be one of {list(exp.profile.methods)}, got {method!r}")
    orig = exp.original().model
    unl = exp.unlearned(kind, method).model
    x, y = exp.scenario(kind).attack_subset(max_samples, exp.profile.seed)
    res = run_probe("uma", orig, unl, x, labels=y, eps=eps, step_size=step_size, steps=steps,
                    loss=loss, restarts=restarts, seed=exp.profile.seed, device=exp.device,
                    progress=False)
    mia = exp.mia_attacker(unl, kind)
    clean = predictions(unl, x, exp.device)
    out = {"method": method, "kind": kind, "eps": eps, "step_size": step_size,
           "steps": steps, "loss": loss, "restarts": restarts, "samples": len(y),
           "UA_clean": float((clean == y).float().mean() * 100),
           "UA": float(res.correct.float().mean() * 100),
           "MIA": mia.member_rate(res.outputs, y),
           "mapped_back": float(res.agrees.float().mean()), "seconds": res.seconds}
    fig = attack_examples(x[:6], res.x_adv[:6], y[:6], predictions(orig, x[:6], exp.device),
                          clean[:6], res.outputs[:6].argmax(1), exp.splits.classes, eps,
                          title=f"UMA vs {method}: UA {out['UA_clean']:.1f}% -> {out['UA']:.1f}%")
    if show:
        plt.show()
    else:
        plt.close(fig)
    out["figure"] = fig
    return out


@dataclass
class AttackPanel:
    """Holds the experiment, the defaults and every result produced (``history``)."""

    exp: Experiment
    defaults: dict[str, Any]
    history: list[dict[str, Any]] = field(default_factory=list)

    @property
    def last(self) -> dict[str, Any] | None:
        return self.history[-1] if self.history else None

    def run(self, **kwargs: Any) -> dict[str, Any]:
        r = run_attack(self.exp, **{**self.defaults, **kwargs})
        self.history.append(r)
        return r


def attack_panel(exp: Experiment, *, interactive: bool = False, show: bool = True,
                 **defaults: Any) -> AttackPanel:
    """Headless: run once with ``defaults`` and return the panel (result in ``panel.last``).
    Interactive: also display widgets that re-run the attack when "Run" is pressed."""
    panel = AttackPanel(exp, {"show": show, **defaults})
    if not interactive:
        panel.run()
        return panel
    import ipywidgets as w
    from IPython.display import display

    d = {**{"method": "SalUn", "eps": 16 / 255, "step_size": 1 / 255, "steps": 100, "loss": "kl",
            "restarts": 1}, **defaults}
    # values are fractions of the pixel range, shown as k/255: eps 1/255 ... 32/255, step sizes
    # 0.25/255 ... 8/255 in powers of 2 and the profile's Figure 5 sweep (plus the defaults)
    eps_options = sorted({*(k / 255 for k in range(1, 33)), d["eps"]})
    step_options = sorted({*(2.0 ** k / 255 for k in range(-2, 4)),
                           *exp.profile.ablation.step_sizes, d["step_size"]})
    controls = {
        "method": w.Dropdown(options=[m for m in exp.profile.methods if m != "retrain"],
                             value=d["method"], description="method"),
        "eps": w.SelectionSlider(options=[(budget.label(e), e) for e in eps_options],
                                 value=d["eps"], description="eps"),
        "step_size": w.SelectionSlider(options=[(budget.label(s), s) for s in step_options],
                                       value=d["step_size"], description="step size"),
        "steps": w.IntSlider(value=d["steps"], min=0, max=300, step=10, description="steps"),
        "loss": w.Dropdown(options=list(LOSSES), value=d["loss"], description="loss"),
        "restarts": w.IntSlider(value=d["restarts"], min=1, max=5, description="restarts"),
    }
    out = w.Output()
    button = w.Button(description="Run UMA", button_style="primary")

    def on_click(_: Any) -> None:
        with out:
            out.clear_output(wait=True)
            r = panel.run(**{k: c.value for k, c in controls.items()}, show=True)
            print({k: (budget.label(v) if k in ("eps", "step_size") else
                       round(v, 4) if isinstance(v, float) else v) for k, v in r.items()
                   if k != "figure"})

    button.on_click(on_click)
    display(w.VBox([w.HBox(list(controls.values())[:3]), w.HBox(list(controls.values())[3:]),
                    button, out]))
    return panel
