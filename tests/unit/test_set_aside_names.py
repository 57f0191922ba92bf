"""The names a set-aside file is listed and noted under: its safe form, and a keyed digest of the name as it was
when that form lost something, so that two names masked alike are told apart."""

from __future__ import annotations

from services.notification.domain.set_aside_names import LIMIT, naming_key, set_aside_names
from tests.support.records import id_number

KEY = naming_key("a sealing key")
BATCH = "440111-440106-20270301T020000-9f2c.batch"


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
