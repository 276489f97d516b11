"""The one registry of discriminative unlearning methods.

A method is one file: its function, its hyperparameter dataclass (a subclass of
:class:`~umalib.config.MethodConfig` with the paper's or the reference code's defaults) and its
registration::

    @dataclass(frozen=True)
    class MyConfig(MethodConfig):
        strength: float = 0.5

    @register_method("Mine", config=MyConfig, uses_forget_set=True)
    def mine(original, retain, forget, cfg, *, seed=0, device="cpu", progress=True, **_):
        ...  # return a NEW model; never modify ``original``

The built-in methods register when :mod:`umalib.unlearn` is imported; a user's module
registers the same way (see the README, "Add your own method"). Profiles, the notebooks, the
sweep, the widgets and the verifier's tables all read the method names from here.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Callable, Mapping

from torch import nn

from ..config import MethodConfig

MethodFn = Callable[..., nn.Module]


@dataclass(frozen=True)
class MethodSpec:
    """A registered unlearning method.

    name: the row name in every table (e.g. "SalUn").
    fn: ``fn(original, retain, forget, cfg, *, seed, device, progress, **extra) -> model``.
    config: its hyperparameter dataclass (defaults = the paper's or the reference's).
    uses_forget_set: the method reads the forget set (False: FT, l1-sparse, retrain).
    accepts_forget_hook: ``fn`` takes ``forget_hook``/``hook_weight`` (adversarial unlearning,
        Eq. 6, :mod:`umalib.defenses.adversarial_unlearning`).
    reference: where the implementation's facts come from (shown in the docs).
    """

    name: str
    fn: MethodFn
    config: type[MethodConfig]
    uses_forget_set: bool
    accepts_forget_hook: bool = False
    reference: str = ""

    @property
    def module(self) -> str:
        """The module that implements the method (a cache key hashes its source)."""
        return self.fn.__module__


METHOD_REGISTRY: dict[str, MethodSpec] = {}


def register_method(name: str, *, config: type[MethodConfig], uses_forget_set: bool,
                    accepts_forget_hook: bool = False, reference: str = ""
                    ) -> Callable[[MethodFn], MethodFn]:
    """Decorator registering an unlearning method under ``name``.

    Raises:
        ValueError: ``name`` is empty or taken by another function, or ``config`` is not a
            frozen dataclass subclassing :class:`~umalib.config.MethodConfig`.
    """
    if not isinstance(name, str) or not name.strip() or name == "Original":
        raise ValueError(f"method name must be a non-empty string other than 'Original', got {name!r}")
    if not (isinstance(config, type) and issubclass(config, MethodConfig)
            and dataclasses.is_dataclass(config) and config.__dataclass_params__.frozen):
        raise ValueError(f"config of method {name!r} must be a frozen dataclass subclassing "
                         f"umalib.config.MethodConfig, got {config!r}")

    def wrap(fn: MethodFn) -> MethodFn:
        old = METHOD_REGISTRY.get(name)
        # re-registering the same function (a module re-imported, e.g. by autoreload) is fine
        if old is not None and (old.fn.__module__, old.fn.__qualname__) != (fn.__module__, fn.__qualname__):
            raise ValueError(f"method {name!r} is already registered by {old.module}.{old.fn.__qualname__}")
        METHOD_REGISTRY[name] = MethodSpec(name, fn, config, uses_forget_set,
                                           accepts_forget_hook, reference)
        return fn

    return wrap


def method_spec(name: str) -> MethodSpec:
    """The registered method ``name``; ValueError listing the known names otherwise."""
    if name not in METHOD_REGISTRY:
        raise ValueError(f"unknown unlearning method {name!r}; known: {list(METHOD_REGISTRY)} "
                         "(a method of your own registers with umalib.unlearn.register_method; "
                         "name its module in the profile's `plugins`)")
    return METHOD_REGISTRY[name]


def method_configs(names: tuple[str, ...],
                   overrides: Mapping[str, Mapping[str, Any]] | None = None
                   ) -> dict[str, MethodConfig]:
    """``{name: config}`` for ``names`` in order: each method's registered defaults with the
    fields of ``overrides[name]`` replaced (a profile states only what it changes).

    Raises:
        ValueError: an unknown method, an override for a method not in ``names``, an unknown
            field, or an invalid value (the config's own validation).
    """
    overrides = dict(overrides or {})
    extra = sorted(set(overrides) - set(names))
    if extra:
        raise ValueError(f"methods: overrides for methods not in the profile: {extra}")
    out = {}
    for name in names:
        spec = method_spec(name)
        fields = {f.name for f in dataclasses.fields(spec.config)}
        bad = sorted(set(overrides.get(name, {})) - fields)
        if bad:
            raise ValueError(f"methods.{name}: unknown field(s) {bad}; known: {sorted(fields)}")
        out[name] = spec.config(**overrides.get(name, {}))
    return out
