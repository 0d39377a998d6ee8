"""Step 4: assemble a bundle directory atomically.

The bundle is staged in a temporary sibling directory and swapped into place only when complete:
a failed export leaves nothing behind, an earlier bundle at the same path survives a failure,
and two exports racing to one path each publish a whole bundle (the last one wins).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import stat
import tempfile
from collections.abc import Iterator
from pathlib import Path

from edge_sdk.errors import EdgeSDKError


@contextlib.contextmanager
def staged_bundle(out_dir: Path) -> Iterator[Path]:
    """Yield an empty staging directory; on success it replaces ``out_dir`` in one step."""
    out_dir = Path(out_dir).absolute()
    try:  # one stat, not exists() then is_dir(): a racing export may rename the directory in between
        mode: int | None = out_dir.stat().st_mode
    except (FileNotFoundError, NotADirectoryError):
        mode = None
    if mode is not None and not stat.S_ISDIR(mode):
        raise EdgeSDKError(f"output path {out_dir} exists and is not a directory")
    try:
        out_dir.parent.mkdir(parents=True, exist_ok=True)
        stage = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.staging-", dir=out_dir.parent))
        os.chmod(stage, 0o755)
    except OSError as e:
        raise EdgeSDKError(f"cannot write to {out_dir.parent}: {e.strerror or e}") from None
    try:
        try:
            yield stage
            _swap_into_place(stage, out_dir)
        except OSError as e:  # disk full, I/O error, read-only: nothing was published
            raise EdgeSDKError(f"cannot write the bundle {out_dir}: {e.strerror or e}; "
                               "nothing was written there (an earlier bundle is left as it was)") from None
    finally:
        shutil.rmtree(stage, ignore_errors=True)


def _swap_into_place(stage: Path, out_dir: Path, attempts: int = 20) -> None:
    """Move any existing bundle aside, rename the stage onto ``out_dir``, then drop the old one.

    If another export publishes between our two renames, the rename fails (directory not empty)
    and we retry, so racing exports never interleave files.
    """
    for _ in range(attempts):
        old = None
        if out_dir.exists():
            old = out_dir.parent / f".{out_dir.name}.old-{os.getpid()}-{stage.name[-8:]}"
            try:
                os.rename(out_dir, old)
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
