"""The names a file set aside from our FTP folder is listed and noted under: never what it was named with, never
one name for two files.

A file's name is its writer's choice: the list under `set_aside` and the name
of its note in set-aside/ keep said_safely's form of it (identity numbers and
letters outside ASCII masked, control characters escaped, cut). Two names that differ
only in what that form masks had one form: the second file's note replaced the
first's, and the bureau's list showed two entries it could not tell apart.
When the form is not the name itself, it ends in `~` and a digest of the name
as it was, keyed (an identity number has few enough possible values that an
unkeyed hash of it is reversed by trying them all) with a key derived from
the deployment's sealing key: the same name is always said the same way (a
late manifest finds its orphan in the list), two names apart.

A file system takes names of 255 bytes at most, and said_safely cuts by
characters: a name in a script of three bytes a character (or four, an
emoji) kept 200 of them, and its note's name, refused by the platform, was
moved again at every poll for ever. Both names are cut in UTF-8 bytes too,
on a character's boundary, so `<name>~<tag>.reason.txt` fits 255 bytes even
as the temporary `.<note>.part` it is written under; a name so cut ends in
its digest as a masked one does. Pure.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass

from shared.logging import said_safely

LIMIT = 200  # characters of a listed name (the list's column), the note's name without `.reason.txt`
LOGGED = 120  # characters of a name in a log line, as said_safely cuts it by default
TAG_HEX = 10  # 40 bits: a folder's set-aside files never number enough to share one by chance
NOTE_SUFFIX = ".reason.txt"
NAME_BYTES = 255  # the longest file name in UTF-8 bytes (ext4, XFS, and FTP servers on them)
# the note is written as `.<note>.part`, then renamed (adapters/ftp_drop.py): that name must fit too
NOTE_BYTES = NAME_BYTES - len("..part")
NAMED_BYTES = NOTE_BYTES - len(NOTE_SUFFIX)  # a listed name, and the note's name without `.reason.txt`
_LABEL = b"popflow/set-aside-names/1"


def naming_key(sealing_key: str | None) -> bytes:
    """The digest's key, from our sealing key (the same across restarts and replicas); without one (a poller that
    opens no batch), a key of this process's own, so names are still told apart, differently after a restart."""
    secret = sealing_key.encode() if sealing_key else secrets.token_bytes(32)
    return hmac.new(secret, _LABEL, hashlib.sha256).digest()


@dataclass(frozen=True, slots=True)
class SetAsideNames:
    listed: str  # in the list under `set_aside`
    note: str  # the note's file name in set-aside/
    logged: str  # in the log line: `listed` cut shorter, its digest kept


def set_aside_names(stem: str, key: bytes, *, listed: str | None = None) -> SetAsideNames:
    """How the file whose note is `<stem>.reason.txt` (listed as `listed`, by default `stem`) is listed and noted:
    said_safely's forms, both ending in the stem's keyed digest when either form is not the name as it was."""
    listed = stem if listed is None else listed
    if _said(stem, LIMIT, NAMED_BYTES) == stem and _said(listed, LIMIT, NAMED_BYTES) == listed:
        # nothing to hide, nothing cut: the name itself, unique in its folder
        return SetAsideNames(listed, stem + NOTE_SUFFIX, said_safely(listed, LOGGED))
    tag = "~" + hmac.new(key, stem.encode("utf-8", "surrogatepass"), hashlib.sha256).hexdigest()[:TAG_HEX]
    chars, size = LIMIT - len(tag), NAMED_BYTES - len(tag)
    return SetAsideNames(
        _said(listed, chars, size) + tag,
        _said(stem, chars, size) + tag + NOTE_SUFFIX,
        said_safely(listed, LOGGED - len(tag)) + tag,
    )


def _said(name: str, chars: int, size: int) -> str:
    """said_safely's form of `name` in `chars` characters and `size` UTF-8 bytes at most, cut on a character's
    boundary with `...` at the end (its escapes and masks are ASCII; what it keeps encodes: no lone surrogate)."""
    said = said_safely(name, chars)
    data = said.encode()
    return said if len(data) <= size else data[: size - 3].decode("utf-8", "ignore") + "..."
