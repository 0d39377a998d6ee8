"""What an export killed mid-way leaves behind, and putting it right on the next load or export.

``converters.bundle`` publishes a bundle ``NAME`` through hidden siblings that carry the owner's pid:
``.NAME.staging-<pid>-XXXXXXXX`` (the new bundle being written, or the old one being deleted after an
atomic swap) and, only where the kernel cannot swap two directories atomically,
``.NAME.old-<pid>-XXXXXXXX`` (the previous bundle, renamed aside for a moment). Export's private work
directories are ``edge-sdk-export-<pid>-XXXXXXXX`` in the temporary directory.

Only names matching these exact patterns are ever touched, and only when their pid is no longer alive:
a running export (this process's threads included) keeps its debris. Standard library only: the device
runtime calls :func:`recover_bundle` before loading.
"""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

WORK_PREFIX = "edge-sdk-export-"
_SUFFIX = r"-(\d+)-[a-z0-9_]{8}"  # -<pid>-<tempfile's 8 random characters>
_WORK_RE = re.compile(re.escape(WORK_PREFIX[:-1]) + _SUFFIX)


def _sibling_re(name: str, kind: str) -> re.Pattern[str]:
    return re.compile(r"\." + re.escape(name) + r"\." + kind + _SUFFIX)


def pid_alive(pid: int) -> bool:
    """Whether process ``pid`` exists (one we may not signal counts as alive)."""
    if pid <= 0:
        return True  # not a pid we wrote: leave it alone
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError):
        return True
    return True


def _dead_debris(parent: Path, pattern: re.Pattern[str]) -> list[Path]:
    """Directories (not links) in ``parent`` named exactly ``pattern`` whose owner pid is dead, newest first."""
    try:
        entries = list(os.scandir(parent))
    except (OSError, ValueError):
        return []
    found = []
    for e in entries:
        m = pattern.fullmatch(e.name)
        try:
            if m and e.is_dir(follow_symlinks=False) and not pid_alive(int(m.group(1))):
                found.append((e.stat(follow_symlinks=False).st_mtime, Path(e.path)))
        except OSError:
            continue
    return [p for _, p in sorted(found, reverse=True)]


def recover_bundle(path: str | os.PathLike[str]) -> bool:
    """If ``path`` is missing but a killed export left its previous bundle renamed aside, put it back.

    Returns whether a bundle was restored. Never raises: a read-only or vanished directory just means
    there is nothing to restore here.
    """
    path = Path(path)
    try:
        if os.path.lexists(path) or not path.name or path.name in (".", ".."):
            return False
        for old in _dead_debris(path.parent, _sibling_re(path.name, "old")):
            if (old / "manifest.json").is_file():
                os.rename(old, path)  # fails if a racing export or load published meanwhile: theirs stands
                return True
    except (OSError, ValueError):  # unreadable, read-only, or not a usable path (the caller says so)
        return False
    return False


def remove_stale(path: str | os.PathLike[str]) -> list[Path]:
    """Remove the staging and set-aside directories that dead exports left beside bundle ``path``.

    Call :func:`recover_bundle` first, so a set-aside bundle is restored rather than deleted.
    """
    path = Path(path)
    removed = []
    for kind in ("staging", "old"):
        for p in _dead_debris(path.parent, _sibling_re(path.name, kind)):
            shutil.rmtree(p, ignore_errors=True)
            removed.append(p)
    return removed


def remove_stale_workdirs(tmpdir: str | os.PathLike[str]) -> list[Path]:
    """Remove ``edge-sdk-export-<pid>-*`` work directories of dead exports from ``tmpdir``."""
    removed = []
    for p in _dead_debris(Path(tmpdir), _WORK_RE):
        shutil.rmtree(p, ignore_errors=True)
        removed.append(p)
    return removed
