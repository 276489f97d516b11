"""Probes that verify unlearning, behind one registry (:mod:`umalib.attacks.probe`).

``uma`` (input space: perturb the forget inputs) and ``relearn`` (weight space: fine-tune a copy
briefly) register on import; ``run_probe(name, original, unlearned, ...)`` runs any of them with
the models' modes owned and restored; ``register_probe`` adds your own.
"""

from .probe import PROBES, SPACES, ProbeSpec, probe_spec, register_probe, run_probe
from .relearn import RelearnResult, relearn
from .uma import INITS, LOSSES, UMAResult, parse_eps, uma

__all__ = ["PROBES", "SPACES", "ProbeSpec", "probe_spec", "register_probe", "run_probe", "uma",
           "UMAResult", "relearn", "RelearnResult", "parse_eps", "LOSSES", "INITS"]
