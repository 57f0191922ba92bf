"""Files that appear whole or not at all: a weekly export, a file of rejected rows written back to a clerk."""

from __future__ import annotations

import contextlib
import os
import secrets
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

PART = ".part"  # the suffix of a file being written; `.<name>.<token>.part` beside its target
STALE_S = 3600  # a temporary file of the same target this old was left by a crash: removed at the next write


@contextmanager
def whole_file(
    target: Path, *, encoding: str | None = None, newline: str | None = None, mode: int = 0o666
) -> Iterator[IO[Any]]:
    """A file to write that appears at `target` only once it is complete and on the disk.

    It is written under a hidden temporary name in the same folder, flushed
    and synced, then renamed over `target`: a reader, or a restart after the
    machine crashed, never finds half a file under the name. Anything raised
    inside (Ctrl-C too) removes the temporary file and leaves `target` as it
    was; one left by a crash of the machine is removed by the next write of
    the same target, an hour on. Binary unless `encoding` is given. `mode`:
    the permissions before the umask, as for `os.open` (0o600 for a file that
    holds personal data, readable by its owner only)."""
    _remove_stale(target)
    partial = target.with_name(f".{target.name}.{secrets.token_hex(4)}{PART}")
    descriptor = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    try:
        try:
            file = open(descriptor, "w" if encoding else "wb", encoding=encoding, newline=newline)  # noqa: SIM115
        except BaseException:
            os.close(descriptor)  # open() did not take it over
            raise
        with file:
            yield file
            file.flush()
            os.fsync(file.fileno())
        os.replace(partial, target)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise


def _remove_stale(target: Path) -> None:
    cut = time.time() - STALE_S
    for stale in target.parent.glob(f".{target.name}.*{PART}"):
        with contextlib.suppress(FileNotFoundError):  # another writer's sweep took it first
            if stale.stat().st_mtime < cut:
                stale.unlink()


def sync_folder(folder: Path) -> None:
    """Make the renames in `folder` durable before anything records them as done."""
    descriptor = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)
