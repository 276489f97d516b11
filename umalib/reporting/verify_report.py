"""The verifier's report on screen and on disk: :func:`text`, :func:`markdown`, :func:`save` and
:func:`plot_curve` of a :class:`umalib.verify.Report` (what ``python -m umalib verify`` prints
and writes). Budgets read as k/255 (:func:`umalib.budget.label`); shares as value [95%
Clopper-Pearson interval].
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np

from ..budget import label
from ..files import atomic_write
from ..verify import Outcome, Report

__all__ = ["header", "rows", "text", "markdown", "relearn_line", "save", "plot_curve"]


def header(report: Report) -> str:
    """The report's first line: scenario, sample counts, budget and strength."""
    return (f"UMA verification: {report.scenario}, {report.samples} of {report.forget_size} forget "
            f"samples, eps {label(report.eps)}, strength {report.strength}")


def _row(o: Outcome, name: str) -> tuple[str, str, str, str, str]:
    """One report line of ``o``: (name, UA in %, mapped back, residual, MIA) strings."""
    ua = f"{100 * o.UA.value:.1f} % [{100 * o.UA.interval[0]:.1f}, {100 * o.UA.interval[1]:.1f}]"
    return (name, ua, str(o.mapped_back), str(o.residual) if o.residual else "n/a",
            "n/a" if math.isnan(o.MIA) else f"{o.MIA:.3f}")


def rows(report: Report) -> list[tuple[str, str, str, str, str]]:
    """(line, UA, mapped back, residual, MIA) strings of clean, each attack and the upper bound;
    shares are value [95% interval]."""
    out = [_row(report.clean, "clean")]
    out += [_row(a, f"UMA {a.name}") for a in report.attacks]
    if report.upper_bound:
        out.append(_row(report.upper_bound, "label-guided (upper bound)"))
    return out


def _fmt_rung(s: dict) -> str:
    """One rung's settings (a :class:`umalib.verify.Rung` as a dict) in words."""
    return (f"{s['name']}: {s['restarts']} x {s['steps']} steps of {label(s['step_size'])}, "
            f"{s['init']} start" + (f", momentum {s['momentum']}" if s["momentum"] else "")
            + (", success at any iterate" if s["select"] == "agreement" else ""))


def _residual_value(c: dict) -> str:
    """A curve row's residual share (3 decimals), or "n/a" without a retrained reference."""
    return "n/a" if c["residual"] is None else f"{c['residual']['value']:.3f}"


def text(report: Report) -> str:
    """The plain-text report that the CLI prints: lines, settings, rule, verdict, curve, time."""
    r = report
    lines = [header(r),
             f"  original model UA: {100 * r.original_UA.value:.1f} %"
             + (f"; retrained model UA: {100 * r.retrained_UA.value:.1f} %"
                if r.retrained_UA else "; no retrained reference"),
             f"  {'':28s} {'UA (unlearned)':>22s} {'mapped back':>22s} {'residual':>22s} {'MIA':>6s}"]
    lines += [f"  {w[0]:28s} {w[1]:>22s} {w[2]:>22s} {w[3]:>22s} {w[4]:>6s}" for w in rows(r)]
    lines += ["  attack settings: " + "; ".join(_fmt_rung(s) for s in r.settings),
              f"  rule: {r.rule}", f"  VERDICT: {r.verdict}"]
    if r.curve:
        lines.append(f"  budget curve ({r.strength} attack):")
        lines += [f"    eps {label(c['eps']):>7s}: UA {100 * c['UA']['value']:5.1f} %, "
                  f"mapped back {c['mapped_back']['value']:.3f}, residual {_residual_value(c)}, "
                  f"MIA {c['MIA']:.3f}" for c in r.curve]
    if r.relearn:
        lines.append(f"  {relearn_line(r.relearn)}")
    lines.append(f"  time: {r.seconds:.1f} s in all; the attacks at {label(r.eps)}: "
                 f"{r.attack_seconds:.1f} s = {r.seconds_per_1000:.0f} s per 1,000 samples")
    return "\n".join(lines)


def relearn_line(rel: dict) -> str:
    """One sentence on the relearning probe: the attacked samples' UA before and after it, for
    the unlearned model and (when given) the retrained one."""
    k = str(rel["steps"])
    line = (f"relearning probe (retain images only, {rel['steps']} SGD steps of "
            f"{rel['batch_size']}, lr {rel['lr']:g}): UA {rel['unlearned']['0']:.1f} % -> "
            f"{rel['unlearned'][k]:.1f} %")
    if rel.get("retrained"):
        line += f" (retrained model: {rel['retrained']['0']:.1f} % -> {rel['retrained'][k]:.1f} %)"
    return line + f", {rel['seconds']:.1f} s"


def markdown(report: Report) -> str:
    """The Markdown report: a table of the lines, then settings, rule, verdict and the budget
    curve's table (when there is one)."""
    r = report
    md = [f"## {header(r)}", "",
          "| | UA (unlearned) | mapped back | residual | MIA |", "|---|---|---|---|---|"]
    md += ["| " + " | ".join(w) + " |" for w in rows(r)]
    md += ["", f"Original model UA {100 * r.original_UA.value:.1f} %"
           + (f", retrained model UA {100 * r.retrained_UA.value:.1f} %." if r.retrained_UA
              else "; no retrained reference."),
           "", "Shares: value [95% Clopper-Pearson interval].", "",
           "Attack: " + "; ".join(_fmt_rung(s) for s in r.settings) + ".", "",
           f"Rule: {r.rule}", "", f"**Verdict: {r.verdict}**", ""]
    if r.curve:
        md += [f"Budget curve ({r.strength} attack, shares without intervals):", "",
               "| eps | UA (%) | mapped back | residual | MIA |", "|---|---|---|---|---|"]
        md += [f"| {label(c['eps'])} | {100 * c['UA']['value']:.1f} | "
               f"{c['mapped_back']['value']:.3f} | {_residual_value(c)} | {c['MIA']:.3f} |"
               for c in r.curve]
        md.append("")
    if r.relearn:
        md += [relearn_line(r.relearn) + ".", ""]
    return "\n".join(md)


def _write_text(path: str | Path, content: str) -> Path:
    """Write ``content`` to ``path`` atomically (parents created); returns the path."""
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(p, lambda tmp: Path(tmp).write_text(content))
    return p


def save(report: Report, json_path: str | Path | None = None,
         markdown_path: str | Path | None = None) -> list[Path]:
    """Write ``report`` as JSON (:meth:`umalib.verify.Report.to_dict`; with a budget curve also
    its PNG next to the JSON) and/or Markdown, each atomically. Returns the paths written, in
    that order."""
    written = []
    if json_path:
        p = _write_text(json_path, json.dumps(report.to_dict(), indent=2))
        written.append(p)
        if report.curve:
            written.append(plot_curve(report, p.with_suffix(".png")))
    if markdown_path:
        written.append(_write_text(markdown_path, markdown(report)))
    return written


def plot_curve(report: Report, path: str | Path) -> Path:
    """Write a PNG of UA / mapped back / residual (with 95% intervals) against the budget to
    ``path`` (atomically) and return the path. Raises ValueError without a budget curve."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    curve = report.curve
    if not curve:
        raise ValueError("the report has no budget curve (pass eps_curve)")
    e = np.array([c["eps"] * 255 for c in curve])
    fig, ax = plt.subplots(figsize=(5.5, 3.6))
    for key, name in (("UA", "UA (unlearned, attacked)"), ("mapped_back", "mapped back"),
                      ("residual", "residual (vs retrained)")):
        if curve[0][key] is None:
            continue
        v, lo, hi = (np.array([c[key][f] for c in curve]) for f in ("value", "lo", "hi"))
        ax.plot(e, v, marker="o", label=name)
        ax.fill_between(e, lo, hi, alpha=0.2)
    ax.axhline(report.original_UA.value, color="grey", ls=":", label="original model UA")
    ax.axhline(report.threshold, color="red", ls="--", lw=0.8, label="verdict threshold")
    ax.set_xscale("log", base=2)
    ax.set_xticks(e, [f"{v:g}" for v in e])
    ax.minorticks_off()
    ax.set_xlabel("L-inf budget eps (x 1/255)")
    ax.set_ylabel("share of forget samples")
    ax.set_ylim(-0.02, 1.02)
    ax.set_title(f"UMA budget curve ({report.strength}, {report.samples} samples)")
    ax.legend(fontsize=7, loc="best")
    fig.tight_layout()
    path = Path(path)
    atomic_write(path, lambda tmp: fig.savefig(tmp, format="png", dpi=120))
    plt.close(fig)
    return path
