"""Attacks that verify unlearning. Registry: ``ATTACKS[name]`` / ``get_attack(name)``."""

from typing import Callable

from .uma import INITS, LOSSES, UMAResult, parse_eps, uma

__all__ = ["ATTACKS", "get_attack", "uma", "UMAResult", "parse_eps", "LOSSES", "INITS"]

ATTACKS: dict[str, Callable[..., UMAResult]] = {"uma": uma}


def get_attack(name: str) -> Callable[..., UMAResult]:
    """Return the attack function registered under ``name`` (e.g. "uma")."""
    try:
        return ATTACKS[name]
    except (KeyError, TypeError):
        raise ValueError(f"attack: unknown name {name!r}; known attacks: {sorted(ATTACKS)}") from None
