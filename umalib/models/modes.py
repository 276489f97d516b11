"""Temporarily put models in eval mode and give every submodule its own mode back afterwards."""

from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator

from torch import nn

__all__ = ["eval_modes"]


@contextmanager
def eval_modes(*models: object) -> Iterator[None]:
    """Within the block, every ``nn.Module`` among ``models`` is in eval mode; other arguments
    (plain callables) are ignored. On exit, normal or by an exception, the ``training`` flag of
    every submodule is set back to what it was on entry.

    Flags are recorded per submodule because ``model.train(flag)`` would overwrite a deliberately
    mixed state (e.g. a frozen BatchNorm inside a training model), and all of them are recorded
    before any model is switched, so models that share submodules come back right too.
    """
    saved = [(m, m.training) for model in models if isinstance(model, nn.Module)
             for m in model.modules()]
    try:
        for model in models:
            if isinstance(model, nn.Module):
                model.eval()
        yield
    finally:
        for m, flag in saved:
            m.training = flag
