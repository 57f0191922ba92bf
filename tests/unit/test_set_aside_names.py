"""The names a set-aside file is listed and noted under: its safe form, and a keyed digest of the name as it was
when that form lost something, so that two names masked alike are told apart."""

from __future__ import annotations

import pytest

from services.notification.domain.set_aside_names import LIMIT, naming_key, set_aside_names
from tests.support.records import id_number

KEY = naming_key("a sealing key")
BATCH = "440111-440106-20270301T020000-9f2c.batch"
STAR = "\u2605"  # a symbol, not a letter: said_safely keeps it, in three UTF-8 bytes


def test_a_name_with_nothing_to_hide_is_listed_and_noted_as_it_is() -> None:
    named = set_aside_names(BATCH, KEY)
    assert (named.listed, named.note) == (BATCH, BATCH + ".reason.txt")
    ack = set_aside_names("440106-440111-x.ack", KEY, listed="440106-440111-x.ack.json")
    assert (ack.listed, ack.note) == ("440106-440111-x.ack.json", "440106-440111-x.ack.reason.txt")


def test_names_masked_alike_are_told_apart_and_each_is_said_the_same_way_every_time() -> None:
    names = [f"440111-{id_number(sequence=n)}.batch" for n in (1, 2)] + ["440111-张三.batch", "440111-李四.batch"]
    names += ["440111-\x1b.batch", "440111-\\x1b.batch", "4" * 300 + "a", "4" * 300 + "b"]
    said = [set_aside_names(name, KEY) for name in names]
    assert len({s.listed for s in said}) == len(names)
    assert len({s.note for s in said}) == len(names)
    assert [set_aside_names(name, KEY) for name in names] == said  # a late manifest finds its orphan listed
    for named in said:
        assert named.note == named.listed + ".reason.txt"
        assert len(named.listed) <= LIMIT
    for named in said[:4]:
        assert "[id-redacted]" in named.listed or "[text-redacted]" in named.listed
        assert not any(c in named.listed for c in "张三李四")
    assert id_number(sequence=1) not in said[0].listed


def test_the_digest_is_keyed() -> None:
    """Unkeyed, it could be reversed by hashing every identity number of a district and a birth year."""
    name = f"440111-{id_number(sequence=1)}.batch"
    assert set_aside_names(name, KEY) != set_aside_names(name, naming_key("another deployment's key"))
    assert set_aside_names(name, naming_key(None)) != set_aside_names(name, naming_key(None))


def test_a_long_name_is_logged_cut_shorter_with_its_digest() -> None:
    named = set_aside_names("\x1b" + "x" * 300, KEY)
    assert len(named.logged) == 120
    assert named.logged.endswith(named.listed[-11:])  # "~" and the digest: the log line finds its list entry
    assert set_aside_names(BATCH, KEY).logged == BATCH


@pytest.mark.parametrize(
    "writing",
    [STAR, "\U0001f600", STAR * 10 + "a", "a" * 190 + STAR],  # a star (3 bytes), an emoji (4)
    ids=["three-bytes", "four-bytes", "mixed", "ascii-then-three"],
)
def test_a_note_and_a_listed_name_fit_a_file_names_255_bytes_whatever_the_script(writing: str) -> None:
    """said_safely cut by characters: 200 characters of three bytes each made a note's name the platform refused,
    and its move was tried again at every poll for ever."""
    names = [f"440111-{writing * 200}"[:240] + end for end in ("1.batch", "2.batch")]
    said = [set_aside_names(name, KEY) for name in names]
    for name, named in zip(names, said, strict=True):
        assert len(f".{named.note}.part".encode()) <= 255  # the note is written under that name, then renamed
        assert named.note.endswith(".reason.txt")
        assert len(f".{named.listed}.reason.txt.part".encode()) <= 255
        assert len(named.listed) <= LIMIT  # the list's column
        assert named.listed[-11] == "~"  # cut: its digest kept, so two long names stay apart
        assert named.note == named.listed + ".reason.txt"
        assert name.startswith(named.listed[:-11].removesuffix("..."))  # whole characters, from the first
    assert len({s.note for s in said}) == 2


def test_a_name_is_kept_as_it_is_while_its_note_fits_255_bytes() -> None:
    fits, too_long = ("440111-" + STAR * stars + ".batch" for stars in (75, 78))  # notes of 249, 258 bytes
    assert set_aside_names(fits, KEY).note == fits + ".reason.txt"
    assert set_aside_names(too_long, KEY).listed.startswith("440111-" + STAR)
    assert set_aside_names(too_long, KEY).listed[-11] == "~"
