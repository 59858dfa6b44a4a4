"""The reader's app as installed on a phone: what makes a new version of its worker."""

from __future__ import annotations

import functools
import hashlib
from pathlib import Path

from django.contrib.staticfiles import finders

from autolettura.webapp.selectors import WORKER_COMMON


@functools.cache
def shell_version(shell: tuple[str, ...]) -> str:
    """A digest of the shell's files and the worker's code: a release that changes them
    gives the phone a new worker, which replaces its copies."""
    digest = hashlib.sha256()
    for path in (*shell, "rounds/reader-queue.js"):
        found = finders.find(path)
        if isinstance(found, str):
            digest.update(Path(found).read_bytes())
    digest.update((Path(__file__).parent / "templates" / "rounds" / "sw.js").read_bytes())
    digest.update(WORKER_COMMON.read_bytes())
    return digest.hexdigest()[:16]
