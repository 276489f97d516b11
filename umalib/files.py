"""File helpers shared by the cache, the readers and the reports: atomic writes and digests."""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path
from typing import Callable


def file_digest(path: str | Path, algorithm: str = "sha256") -> str:
    """Hex digest of a file's bytes (read in 1 MiB blocks), e.g. ``"sha256"`` or ``"sha1"``."""
    h = hashlib.new(algorithm)
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def atomic_write(path: str | Path, write: Callable[[str], object], mode: int = 0o644) -> Path:
    """Write ``path`` all at once: ``write(tmp)`` fills a temporary file in the same folder,
    which is then renamed over ``path``; an interrupted write never leaves half a file.

    ``mode`` is applied before the rename (mkstemp creates files readable by the owner only).
    Returns ``path``. Raises whatever ``write`` or the file system raises, after removing the
    temporary file.
    """
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    os.close(fd)
    try:
        write(tmp)
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
    return path
