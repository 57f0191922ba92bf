"""Files that appear whole or not at all: a weekly export, a file of rejected rows written back to a clerk."""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

PART = ".part"  # the suffix of a file being written; `.<name>.<token>.part` beside its target


@contextmanager
def whole_file(target: Path, *, encoding: str | None = None, newline: str | None = None) -> Iterator[IO[Any]]:
    """A file to write that appears at `target` only once it is complete and on the disk.

    It is written under a hidden temporary name in the same folder, flushed
    and synced, then renamed over `target`: a reader, or a restart after the
    machine crashed, never finds half a file under the name. Anything raised
    inside (Ctrl-C too) removes the temporary file and leaves `target` as it
    was. Binary unless `encoding` is given. Created with the process's umask,
    as `open` would (readable by the group where the umask allows it)."""
    partial = target.with_name(f".{target.name}.{secrets.token_hex(4)}{PART}")
    descriptor = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    try:
        mode = "w" if encoding else "wb"
        with open(descriptor, mode, encoding=encoding, newline=newline) as file:
            yield file
            file.flush()
            os.fsync(file.fileno())
        os.replace(partial, target)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise


def sync_folder(folder: Path) -> None:
    """Make the renames in `folder` durable before anything records them as done."""
    descriptor = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)
