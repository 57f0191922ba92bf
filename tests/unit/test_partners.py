"""Exchange partners: longest prefix, what makes one ready, the FTP form."""

from __future__ import annotations

from base64 import b64decode
from datetime import UTC, datetime

import pytest

from shared.exchange.partners import Partner, PartnerKeys, Transport
from shared.exchange.partners_file import InvalidPartnersFile, parse_partners

# public keys: base64 of 32 bytes each
VERIFY = "dnZ2dnZ2dnZ2dnZ2dnZ2dnZ2dnZ2dnZ2dnZ2dnZ2dnY="
SEAL = "c3Nzc3Nzc3Nzc3Nzc3Nzc3Nzc3Nzc3Nzc3Nzc3Nzc3M="
OLD = "b29vb29vb29vb29vb29vb29vb29vb29vb29vb29vb28="

FILE = f"""
[[partners]]
name = "tianhe"
prefixes = ["440106"]
transport = "https"
url = "http://127.0.0.1:9"
verify_key = "{VERIFY}"
seal_key = "{SEAL}"

[[partners]]
name = "changsha"
prefixes = ["4301", "4302"]
transport = "ftp"
secret_env = "CHANGSHA_EXCHANGE_SECRET"
seal_key = "{SEAL}"
ftp = {{ host = "127.0.0.1", port = 2121, user_env = "U", password_env = "P", folders = {{ "430102" = "/430102" }} }}

[[partners]]
name = "keyless"
prefixes = ["44"]
url = "https://gd"
"""


def test_the_longest_prefix_carries_and_only_ready_partners_are_used() -> None:
    table = parse_partners(FILE)
    assert table.ready_partner_for("440106001").name == "tianhe"  # type: ignore[union-attr]
    assert table.partner_for("440304").name == "keyless"  # type: ignore[union-attr]
    assert table.ready_partner_for("440304") is None
    assert table.partner_for("310115") is None
    assert table.ready_partner_for("310115") is None


def test_an_ftp_partner_names_a_folder_per_district() -> None:
    partner = parse_partners(FILE).ready_partner_for("430102001")
    assert partner is not None
    assert partner.ftp is not None
    assert partner.ftp.folder_for("430102001") == "/430102"
    assert partner.ftp.port == 2121
    assert [name for _, p in parse_partners(FILE).partners() for name in [p.name]] == ["changsha", "keyless", "tianhe"]


def test_what_is_missing_is_said() -> None:
    keyless = parse_partners(FILE).partner_for("44")
    assert keyless is not None
    assert keyless.problems() == [
        "no verify_key or secret_env to check what it sends",
        "no seal_key to seal what we send it",
    ]


@pytest.mark.parametrize("bad", ["not base64!", "c2VhbA==", "dmVyaWZ5" * 8])  # not base64, 4 bytes, 48 bytes
def test_a_key_that_is_not_a_public_key_leaves_the_partner_unconfigured(bad: str) -> None:
    good = parse_partners(FILE).named("tianhe")
    assert good is not None
    assert good.problems() == []
    mistyped = {
        "verify_key": PartnerKeys(verify_key=bad, seal_key=SEAL),
        "seal_key": PartnerKeys(verify_key=VERIFY, seal_key=bad),
    }
    for name, keys in mistyped.items():
        partner = Partner("tianhe", Transport.HTTPS, url="https://tianhe", keys=keys)
        assert partner.problems() == [f"{name} is not a public key (base64 of 32 bytes)"]
        assert bad not in " ".join(partner.problems())
    # the previous key is read only during its switch-over, and is not what makes a partner ready
    keys = PartnerKeys(verify_key=VERIFY, seal_key=SEAL, previous_verify_key=bad)
    assert Partner("t", Transport.HTTPS, url="https://t", keys=keys).problems() == []


@pytest.mark.parametrize(
    "text",
    [
        '[[partners]]\nname = "x"\nprefixes = ["4"]\n',
        '[[partners]]\nname = "x"\nprefixes = ["44"]\ntransport = "smtp"\n',
        # a previous key without the end of its switch-over, or an end without an offset
        '[[partners]]\nname = "x"\nprefixes = ["44"]\nprevious_verify_key = "b2xk"\n',
        '[[partners]]\nname = "x"\nprefixes = ["44"]\nprevious_verify_key = "b2xk"\n'
        "previous_until = 2027-04-01T00:00:00\n",
        # a name longer than the notice's exchange_endpoint and the exchange tables hold: routing could build no
        # notice for its codes, notification record nothing it sent or received
        f'[[partners]]\nname = "{"x" * 101}"\nprefixes = ["44"]\n',
        f'[default]\nname = "{"x" * 101}"\n',
        '[[partners]]\nname = ""\nprefixes = ["44"]\n',
    ],
)
def test_bad_partner_entries_are_refused(text: str) -> None:
    with pytest.raises(InvalidPartnersFile):
        parse_partners(text)


def test_a_previous_key_is_accepted_until_the_end_of_its_switch_over() -> None:
    text = FILE.replace(
        f'verify_key = "{VERIFY}"\n',
        f'verify_key = "{VERIFY}"\nprevious_verify_key = "{OLD}"\nprevious_until = 2027-04-01T00:00:00+08:00\n',
        1,
    )
    keys = parse_partners(text).named("tianhe").keys  # type: ignore[union-attr]
    before, after = datetime(2027, 3, 31, 15, 59, tzinfo=UTC), datetime(2027, 3, 31, 16, 0, tzinfo=UTC)
    assert [c.verify_key for c in keys.checkers(before)] == [VERIFY, OLD]
    assert [c.verify_key for c in keys.checkers(after)] == [VERIFY]
    assert keys.seal_key == SEAL  # one key to seal to: the current one


def _two(first: str, second: str) -> str:
    return f"""
[[partners]]
name = "tianhe"
prefixes = ["440106"]
url = "https://tianhe"
{first}

[[partners]]
name = "yuexiu"
prefixes = ["440104"]
url = "https://yuexiu"
{second}
"""


@pytest.mark.parametrize(
    ("first", "second", "shared"),
    [
        ('secret_env = "GZ_SECRET"', 'secret_env = "GZ_SECRET"', "secret_env GZ_SECRET"),
        (f'verify_key = "{VERIFY}"', f'verify_key = "{VERIFY}"', "verify_key"),
        # a key one partner is switching away from is still its key until the switch-over ends
        (
            'secret_env = "NEW"',
            'secret_env = "OTHER"\nprevious_secret_env = "NEW"\nprevious_until = 2027-04-01T00:00:00+08:00',
            "secret_env NEW",
        ),
    ],
)
def test_two_partners_checked_with_one_key_are_refused(first: str, second: str, shared: str) -> None:
    """Either could sign as the other, and answer for the other's notices: the file is refused, naming the two and
    the variable (never a key's value)."""
    with pytest.raises(InvalidPartnersFile) as refused:
        parse_partners(_two(first, second))
    assert "'tianhe' and 'yuexiu' share a " + shared in str(refused.value)
    assert VERIFY not in str(refused.value)


def test_one_partner_over_several_districts_and_partners_with_keys_of_their_own_are_taken() -> None:
    table = parse_partners(_two('secret_env = "TIANHE"', f'verify_key = "{VERIFY}"'))
    assert {p.name for p in table.by_prefix.values()} == {"tianhe", "yuexiu"}
    several = parse_partners(FILE)  # changsha: one entry, one secret, two prefixes
    assert several.by_prefix["4301"] is several.by_prefix["4302"]


def test_two_partners_whose_variables_hold_one_secret_are_refused_never_showing_it() -> None:
    text = _two('secret_env = "TIANHE_SECRET"', 'secret_env = "YUEXIU_SECRET"')
    same = {"TIANHE_SECRET": "s3cret-shared-by-mistake", "YUEXIU_SECRET": "s3cret-shared-by-mistake"}
    with pytest.raises(InvalidPartnersFile) as refused:
        parse_partners(text, environ=same)
    assert "'tianhe' and 'yuexiu' share a secret:" in str(refused.value)
    assert "s3cret" not in str(refused.value)
    apart = {"TIANHE_SECRET": "one", "YUEXIU_SECRET": "another"}
    assert {p.name for p in parse_partners(text, environ=apart).by_prefix.values()} == {"tianhe", "yuexiu"}
    assert len(parse_partners(text, environ={}).by_prefix) == 2  # not set (yet): unconfigured, said elsewhere


def test_two_partners_of_one_name_with_keys_of_their_own_are_refused() -> None:
    """A partner acts by its name (an answer counts when it comes from the partner our notice went to): two
    entries named alike, each with its own key, would let Yuexiu's key answer for Tianhe's notices, as one shared
    key would. Entries of one name that agree on their keys are one partner, as before."""
    text = _two('secret_env = "TIANHE"', f'verify_key = "{VERIFY}"').replace('name = "yuexiu"', 'name = "tianhe"')
    with pytest.raises(InvalidPartnersFile) as refused:
        parse_partners(text)
    assert "two partners are named 'tianhe', with different keys" in str(refused.value)
    assert VERIFY not in str(refused.value)
    alike = _two('secret_env = "TIANHE"', 'secret_env = "TIANHE"').replace('name = "yuexiu"', 'name = "tianhe"')
    table = parse_partners(alike)
    assert table.by_prefix["440106"].name == table.by_prefix["440104"].name == "tianhe"


def test_one_key_spelled_two_ways_is_one_key() -> None:
    """The last base64 character of a 32-byte key carries two unused bits: another value there spells the same key,
    which the signature check reads alike."""
    digits = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
    last = digits.index(VERIFY[42])
    respelled = VERIFY[:42] + digits[last ^ 0b01] + "="
    assert respelled != VERIFY
    assert b64decode(respelled, validate=True) == b64decode(VERIFY, validate=True)
    with pytest.raises(InvalidPartnersFile) as refused:
        parse_partners(_two(f'verify_key = "{VERIFY}"', f'verify_key = "{respelled}"'))
    assert "'tianhe' and 'yuexiu' share a verify_key" in str(refused.value)
    assert VERIFY not in str(refused.value)
    assert respelled not in str(refused.value)
