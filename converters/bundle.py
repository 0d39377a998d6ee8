"""Step 4: publish a bundle directory atomically, and never over what is not ours.

The rule for an output path DIR (:func:`check_output`, applied before the conversion work starts and
again right before publishing):

* missing or empty: fine. A symlink is followed (its target gets the bundle; the link stays a link).
* the current directory, a parent of it, the home directory or ``/``: refused, always.
* an edge-sdk bundle (its manifest parses) holding only bundle files (manifest.json, its artifact,
  report.md, golden.npz, engines): replaced. With other files too: refused unless ``force=True`` (``--force``).
* anything else (a file, a non-empty directory that is not a bundle): refused, always.

Publishing: the bundle is staged in a hidden sibling ``.DIR.staging-<pid>-XXXXXXXX`` and swapped in
only when complete, with Linux's ``renameat2(RENAME_EXCHANGE)``, so there is never a moment without a
bundle at DIR. Where the kernel cannot swap, the old bundle is renamed aside
(``.DIR.old-<pid>-XXXXXXXX``) for the moment between two renames; an export killed there is repaired
by the next export or load (:mod:`runtimes.recovery`), which also removes dead exports' debris. A
failed export leaves nothing behind, an earlier bundle survives a failure, and racing exports each
publish a whole bundle (the last one wins).
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import os
import re
import shutil
import stat
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

from edge_sdk.errors import EdgeSDKError, OutputExistsError
from runtimes.backends.tensorrt import ENGINE_NAME
from runtimes.errors import ManifestError
from runtimes.golden import GOLDEN_NAME
from runtimes.manifest import MANIFEST_NAME, read_manifest
from runtimes.recovery import recover_bundle, remove_stale, remove_stale_workdirs

_RENAME_EXCHANGE = 2
_AT_FDCWD = -100


def _label(path: str | os.PathLike[str]) -> str:
    """A path for a one-line message (absurdly long ones cut)."""
    text = str(path)
    return text if len(text) <= 200 else text[:200] + "..."


def _never(target: Path, shown: Path) -> None:
    """Refuse the paths no export may replace, whatever they hold."""
    try:
        cwd: Path | None = Path.cwd().resolve()
    except OSError:
        cwd = None
    try:
        home: Path | None = Path.home().resolve()
    except (OSError, RuntimeError):  # no HOME and no passwd entry
        home = None
    what = ("the root directory" if target.parent == target else "the current directory" if target == cwd
            else "a parent of the current directory" if cwd is not None and target in cwd.parents
            else "your home directory" if target == home else None)
    if what:
        raise OutputExistsError(f"refusing to write a bundle to {shown}: it is {what}, which export would "
                                "replace; choose a new directory, e.g. -o bundles/my-model")


def bundle_files(out_dir: Path) -> set[str] | None:
    """The names edge-sdk writes into the bundle at ``out_dir``; None if its manifest does not parse."""
    try:
        m = read_manifest(out_dir)
    except ManifestError:
        return None
    names = {MANIFEST_NAME, m.artifact, "report.md", ENGINE_NAME, GOLDEN_NAME}
    names |= {e["file"] for e in m.engines if isinstance(e.get("file"), str)}
    return names


def _is_ours(entry: os.DirEntry[str], names: set[str]) -> bool:
    """A bundle file, or a temporary file an interrupted atomic write of one left (edge_sdk._io)."""
    m = re.fullmatch(r"\.(.+)\.[a-z0-9_]{8}\.tmp", entry.name)
    return (entry.name in names or bool(m and m.group(1) in names)) and not entry.is_dir(follow_symlinks=False)


def check_output(out_dir: str | os.PathLike[str], *, force: bool = False) -> Path:
    """Where the bundle for ``out_dir`` goes (a symlink resolved); raise if that would destroy anything else."""
    target = Path(os.path.realpath(out_dir))
    _never(target, Path(out_dir))
    shown = _label(out_dir)
    try:
        mode: int | None = target.stat().st_mode
    except (FileNotFoundError, NotADirectoryError):
        mode = None
    except OSError as e:
        raise EdgeSDKError(f"cannot inspect the output path {shown}: {e.strerror or e}") from None
    if mode is None:
        return target
    if not stat.S_ISDIR(mode):
        raise OutputExistsError(f"output path {shown} exists and is not a directory; choose another path")
    try:
        entries = list(os.scandir(target))
    except OSError as e:
        raise EdgeSDKError(f"cannot list the output directory {shown}: {e.strerror or e}") from None
    if not entries:
        return target
    names = bundle_files(target)
    if names is None:
        raise OutputExistsError(f"{shown} is a non-empty directory that is not an edge-sdk bundle, and export "
                                "replaces its output directory; choose a new or empty directory")
    extra = sorted(e.name for e in entries if not _is_ours(e, names))
    if extra and not force:
        listed = ", ".join(extra[:3]) + (f" and {len(extra) - 3} more" if len(extra) > 3 else "")
        raise OutputExistsError(f"{shown} is a bundle but also holds files edge-sdk did not write ({listed}), "
                                "which replacing it would delete; move them out, choose another directory, "
                                "or pass --force (force=True) to replace it anyway")
    return target


def prepare_output(out_dir: str | os.PathLike[str], *, force: bool = False) -> Path:
    """Repair and clean what killed exports left, then :func:`check_output`; returns the target."""
    try:
        target = Path(os.path.realpath(out_dir))
    except (OSError, ValueError) as e:  # a NUL byte, a name too long
        raise EdgeSDKError(f"cannot use output path {_label(out_dir)!r}: {e}") from None
    _never(target, Path(out_dir))
    recover_bundle(target)
    remove_stale(target)
    with contextlib.suppress(OSError):  # no usable temporary directory: the work dir's own error says so
        remove_stale_workdirs(tempfile.gettempdir())
    return check_output(out_dir, force=force)


@contextlib.contextmanager
def staged_bundle(out_dir: Path, check: Callable[[Path], object] | None = None) -> Iterator[Path]:
    """Yield an empty staging directory; on success it replaces ``out_dir`` in one step.

    ``check(out_dir)`` runs right before publishing and may raise to refuse (the pipeline passes
    :func:`check_output`); without it any directory is replaced, except those :func:`check_output` always
    refuses. A symlink at ``out_dir`` is followed, never replaced.
    """
    shown = Path(out_dir)
    out_dir = Path(os.path.realpath(shown))
    _never(out_dir, shown)
    try:  # one stat, not exists() then is_dir(): a racing export may rename the directory in between
        mode: int | None = out_dir.stat().st_mode
    except (FileNotFoundError, NotADirectoryError):
        mode = None
    if mode is not None and not stat.S_ISDIR(mode):
        raise OutputExistsError(f"output path {shown} exists and is not a directory; choose another path")
    try:
        out_dir.parent.mkdir(parents=True, exist_ok=True)
        stage = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.staging-{os.getpid()}-", dir=out_dir.parent))
        os.chmod(stage, 0o755)
    except OSError as e:
        raise EdgeSDKError(f"cannot write to {out_dir.parent}: {e.strerror or e}") from None
    try:
        try:
            yield stage
            _swap_into_place(stage, out_dir, check)
        except OSError as e:  # disk full, I/O error, read-only: nothing was published
            raise EdgeSDKError(f"cannot write the bundle {shown}: {e.strerror or e}; "
                               "nothing was written there (an earlier bundle is left as it was)") from None
    finally:
        shutil.rmtree(stage, ignore_errors=True)  # after a swap it holds the previous bundle


def exchange(a: Path, b: Path) -> bool:
    """Swap two existing paths in one atomic step (Linux ``renameat2``); False where that is unsupported."""
    fn = getattr(ctypes.CDLL(None, use_errno=True), "renameat2", None)
    if fn is None:
        return False
    if fn(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE) == 0:
        return True
    err = ctypes.get_errno()
    if err in (errno.ENOSYS, errno.EINVAL, errno.EOPNOTSUPP):
        return False
    raise OSError(err, os.strerror(err), str(b))


def _swap_into_place(stage: Path, out_dir: Path, check: Callable[[Path], object] | None, attempts: int = 20) -> None:
    """Publish ``stage`` at ``out_dir``: a plain rename onto a missing or empty directory, else an atomic
    swap (the previous bundle ends up at ``stage``, which the caller deletes).

    Fallback where :func:`exchange` is unsupported: move the previous bundle aside, rename the stage in, drop the
    old one. If another export publishes between our two renames, the rename fails (directory not
    empty) and we retry, so racing exports never interleave files.
    """
    for _ in range(attempts):
        if check is not None:
            check(out_dir)
        try:
            os.rename(stage, out_dir)
            return
        except OSError as e:
            if e.errno not in (errno.ENOTEMPTY, errno.EEXIST):
                raise
        try:
            if exchange(stage, out_dir):
                return
        except FileNotFoundError:  # a racing export (fallback path) moved it aside: try again
            continue
        aside = out_dir.parent / f".{out_dir.name}.old-{os.getpid()}-{stage.name[-8:]}"
        old: Path | None = aside
        try:
            os.rename(out_dir, aside)
        except FileNotFoundError:  # a racing export moved it first
            old = None
        try:
            os.rename(stage, out_dir)
        except OSError:  # another export published between our two renames
            if old is not None:
                try:
                    os.rename(old, out_dir)  # the slot is empty again: put the earlier bundle back
                except OSError:
                    shutil.rmtree(old, ignore_errors=True)  # a newer bundle is in place: ours is stale
            continue
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
        return
    raise EdgeSDKError(f"could not publish the bundle at {out_dir}: it kept changing under us")
