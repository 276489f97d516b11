"""Attack budgets in one unit.

Every L-inf budget and step size in umalib (config fields, CLI values, widget values, stage
arguments, :func:`umalib.attacks.uma`) is a fraction of the [0, 1] pixel range, e.g. ``8 / 255``;
``None`` is the unbounded attack (only the [0, 1] box applies). People read budgets as k/255:
:func:`label` renders one, :func:`tag` gives the short column suffix ("8" in ``UA_8``).
Values are never recovered from their rendered text; :func:`parse_eps` reads what a person
types (CLI flags, config text) into a budget.
"""

from __future__ import annotations

import math
import numbers

__all__ = ["label", "tag", "from_255", "to_255", "parse_eps"]


def to_255(eps: float) -> float:
    """A budget in units of 1/255 (8/255 -> 8.0), rounded to 6 decimals against float noise."""
    return round(float(eps) * 255, 6)


def from_255(k: float) -> float:
    """``k`` units of 1/255 as a fraction of the pixel range (8 -> 8/255)."""
    return float(k) / 255


def label(eps: float | None) -> str:
    """How people read a budget: 8/255 -> "8/255", 0.5/255 -> "0.5/255", None or inf ->
    "unbounded"."""
    if eps is None or math.isinf(eps):
        return "unbounded"
    return f"{to_255(eps):g}/255"


def tag(eps: float | None) -> str:
    """Column suffix of a budget: 8/255 -> "8", 0.5/255 -> "0.5", None -> "inf"."""
    if eps is None or math.isinf(eps):
        return "inf"
    return f"{to_255(eps):g}"


_UNBOUNDED_WORDS = ("none", "inf", "+inf", "infinity", "unbounded")


def parse_eps(text: str | float | None) -> float | None:
    """Parse an L-inf budget: "8/255", "0.03", 0.03 -> float in (0, 1]; "none"/"inf"/None -> None
    (unbounded attack). Raises ValueError for malformed text, NaN, division by zero or a value
    outside (0, 1]."""
    if text is None:
        return None
    if isinstance(text, bool):
        raise ValueError(f"eps: expected a number in (0, 1], a fraction like '8/255' or 'none', got {text!r}")
    if isinstance(text, numbers.Real):
        value = float(text)
        if math.isinf(value) and value > 0:
            return None
        return _check_eps_value(value, text)
    if not isinstance(text, str):
        raise ValueError(f"eps: expected str, float or None, got {type(text).__name__}")
    s = text.strip().lower()
    if s in _UNBOUNDED_WORDS:
        return None
    try:
        if "/" in s:
            num_s, den_s = s.split("/", 1)
            num, den = float(num_s), float(den_s)
            if den == 0:
                raise ValueError(f"eps: division by zero in {text!r}")
            value = num / den
        else:
            value = float(s)
    except ValueError as err:
        if str(err).startswith("eps:"):  # our own message, not float()'s
            raise
        raise ValueError(
            f"eps: cannot parse {text!r}; use a number in (0, 1], a fraction like '8/255', "
            f"or 'none'/'inf' for an unbounded attack"
        ) from None
    return _check_eps_value(value, text)


def _check_eps_value(value: float, original: object) -> float:
    """``value`` if it is a budget in (0, 1], else ValueError quoting ``original`` (the input)."""
    if math.isnan(value) or not (0.0 < value <= 1.0):
        raise ValueError(f"eps: must be in (0, 1] (pixel units, e.g. 8/255) or None, got {original!r}")
    return value
