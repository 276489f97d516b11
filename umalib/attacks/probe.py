"""The one registry of probes: attacks that look for what unlearning left behind.

A probe is one file with one entry point ``fn(original, unlearned, ...)`` and a registration::

    @register_probe("uma", space="input", summary="perturb inputs so f_u maps back onto f")
    def uma(original, unlearned, inputs, *, ...): ...

:func:`run_probe` is the base every caller goes through: it puts both models in eval mode for
the probe and gives every submodule its own train/eval mode back afterwards, whatever the
probe does (a probe that trains works on its own copy). The stages, the verifier and the
notebooks' widgets find probes here by name.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

from ..models.modes import eval_modes

SPACES: tuple[str, ...] = ("input", "weights")  # what a probe changes to find residual knowledge

ProbeFn = Callable[..., Any]


@dataclass(frozen=True)
class ProbeSpec:
    """A registered probe: ``fn(original, unlearned, ...)``; ``space`` = "input" (perturbs
    inputs, e.g. UMA) or "weights" (changes a copy's weights, e.g. relearning)."""

    name: str
    fn: ProbeFn
    space: str
    summary: str

    @property
    def module(self) -> str:
        """The module that implements the probe (a cache key hashes its source)."""
        return self.fn.__module__


PROBES: dict[str, ProbeSpec] = {}


def register_probe(name: str, *, space: str, summary: str) -> Callable[[ProbeFn], ProbeFn]:
    """Decorator registering ``fn(original, unlearned, ...)`` as probe ``name``.

    Raises:
        ValueError: an empty name, a name taken by another function, or ``space`` not in
            :data:`SPACES`.
    """
    if not isinstance(name, str) or not name.strip():
        raise ValueError(f"probe name must be a non-empty string, got {name!r}")
    if space not in SPACES:
        raise ValueError(f"probe {name!r}: space must be one of {SPACES}, got {space!r}")

    def wrap(fn: ProbeFn) -> ProbeFn:
        old = PROBES.get(name)
        if old is not None and (old.fn.__module__, old.fn.__qualname__) != (fn.__module__, fn.__qualname__):
            raise ValueError(f"probe {name!r} is already registered by {old.module}.{old.fn.__qualname__}")
        PROBES[name] = ProbeSpec(name, fn, space, summary)
        return fn

    return wrap


def probe_spec(name: str) -> ProbeSpec:
    """The registered probe ``name``; ValueError listing the known names otherwise."""
    try:
        return PROBES[name]
    except (KeyError, TypeError):
        raise ValueError(f"probe: unknown name {name!r}; known probes: {sorted(PROBES)}") from None


def run_probe(name: str, original: Any, unlearned: Any, *args: Any, **kwargs: Any) -> Any:
    """Run probe ``name`` on ``(original, unlearned)`` with both models in eval mode; every
    submodule's train/eval mode is restored afterwards, also on an error. Returns what the
    probe returns."""
    spec = probe_spec(name)
    with eval_modes(original, unlearned):
        return spec.fn(original, unlearned, *args, **kwargs)
