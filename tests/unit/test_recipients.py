"""Recipients: served districts are local, the rest goes through the longest-prefix endpoint."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from services.routing.adapters.recipients_file import InvalidRecipientsFile, RecipientsFile, parse_exchanges
from services.routing.domain.recipients import ExchangeEndpoint, ExchangeTable, Recipients

CITY = ExchangeEndpoint("guangzhou-city-exchange", "https://gz")
UNCONFIGURED = ExchangeEndpoint("unconfigured", "")
PROVINCE = ExchangeEndpoint("guangdong-provincial-platform", "https://gd")
NATIONAL = ExchangeEndpoint("national-exchange", "https://cn")
TABLE = ExchangeTable(by_prefix={"4401": CITY, "44": PROVINCE}, default=NATIONAL)


@pytest.mark.parametrize(
    ("code", "endpoint"),
    [
        ("440111005", None),  # a street of the served district
        ("440111", None),  # its bureau
        ("440106", CITY),  # Tianhe, same city
        ("440106001", CITY),
        ("440304", PROVINCE),  # Shenzhen, same province
        ("310115", NATIONAL),  # Pudong
        ("430102", NATIONAL),
    ],
)
def test_recipient_for_code(code: str, endpoint: ExchangeEndpoint | None) -> None:
    recipient = Recipients.of(["440111"], TABLE).for_code(code)
    assert recipient.code == code
    assert recipient.endpoint == endpoint


def test_a_second_served_district_is_local() -> None:
    recipients = Recipients.of(["440111", "440106"], TABLE)
    assert recipients.for_code("440106").endpoint is None
    assert recipients.bureau_of("440106001").code == "440106"


def test_the_shipped_file_parses() -> None:
    text = (Path(__file__).parents[2] / "services/routing/adapters/recipients.toml").read_text()
    table = parse_exchanges(text)
    assert table.endpoint_for("440106").name == "guangzhou-city-exchange"
    assert table.endpoint_for("310115").name == "national-exchange"


@pytest.mark.parametrize(
    "text",
    [
        "not = [toml",
        '[[partners]]\nprefixes = ["44"]\nname = "x"\ntransport = "carrier-pigeon"\n',
        '[[partners]]\nname = "x"\nurl = "y"\n',  # no prefix
        '[default]\nname = "d"\nurl = "u"\n[[endpoints]]\nprefix = "4x"\nname = "x"\nurl = "y"\n',
    ],
)
def test_bad_files_are_refused(text: str) -> None:
    with pytest.raises(InvalidRecipientsFile):
        parse_exchanges(text)


def test_a_changed_file_takes_effect_without_restart_and_a_bad_one_is_ignored(tmp_path: Path) -> None:
    path = tmp_path / "recipients.toml"
    path.write_text('[default]\nname = "national"\nurl = "u"\n')
    recipients = RecipientsFile(path, ["440111"], check_interval_s=0)
    assert recipients.current().for_code("440106").endpoint == ExchangeEndpoint("national", "u")

    path.write_text(
        '[default]\nname = "national"\nurl = "u"\n[[endpoints]]\nprefix = "4401"\nname = "city"\nurl = "c"\n'
    )
    os.utime(path, (1, 1))  # a distinct modification time, however fast the test runs
    assert recipients.current().for_code("440106").endpoint == ExchangeEndpoint("city", "c")

    path.write_text("broken = [")
    os.utime(path, (2, 2))
    assert recipients.current().for_code("440106").endpoint == ExchangeEndpoint("city", "c")


def test_a_code_no_partner_carries_is_unconfigured() -> None:
    table = parse_exchanges('[[partners]]\nprefixes = ["4401"]\nname = "city"\nurl = "https://c"\n')
    assert table.endpoint_for("440106").name == "city"
    assert Recipients.of(["440111"], table).for_code("430102").endpoint == UNCONFIGURED
