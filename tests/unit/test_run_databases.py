"""`make run` in a checkout uses databases its keys open: its secrets live in its var/, so another checkout's
databases (sealed with other keys) would refuse it."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest

from services.cli import local
from services.cli import side_by_side as side_by_side_module
from services.cli.databases import choose_prefix, of_prefix
from shared.sealing import Keyring, parse_keyring


def sealed(*prefixes: str) -> set[str]:
    return set(prefixes)


def test_databases_that_open_with_this_checkouts_keys_keep_the_plain_names() -> None:
    assert choose_prefix(chosen=None, checkout="/home/a/popflow", sealed_elsewhere=sealed().__contains__) == "popflow_"


def test_a_second_checkout_gets_names_of_its_own_and_two_checkouts_differ() -> None:
    taken = sealed("popflow_").__contains__
    first = choose_prefix(chosen=None, checkout="/home/a/popflow", sealed_elsewhere=taken)
    second = choose_prefix(chosen=None, checkout="/home/b/second-clone", sealed_elsewhere=taken)
    assert first.startswith("popflow_")
    assert first != "popflow_"
    assert first.endswith("_")
    assert len(first) == len("popflow_") + 9
    assert first != second


def test_var_removed_twice_moves_on_to_names_whose_databases_open() -> None:
    """The checkout's own hashed databases are sealed with the keys of its first var/: the next names."""
    once = choose_prefix(chosen=None, checkout="/home/a/popflow", sealed_elsewhere=sealed("popflow_").__contains__)
    twice = choose_prefix(
        chosen=None, checkout="/home/a/popflow", sealed_elsewhere=sealed("popflow_", once).__contains__
    )
    thrice = choose_prefix(
        chosen=None, checkout="/home/a/popflow", sealed_elsewhere=sealed("popflow_", once, twice).__contains__
    )
    assert len({"popflow_", once, twice, thrice}) == 4
    assert all(len(p) == len(once) for p in (twice, thrice))


def test_when_every_name_is_taken_it_says_so() -> None:
    with pytest.raises(RuntimeError, match="sealed with other keys"):
        choose_prefix(chosen=None, checkout="/x", sealed_elsewhere=lambda _: True, tries=3)


def test_what_a_checkout_chose_once_stays_and_no_store_is_read() -> None:
    def never(prefix: str) -> bool:
        raise AssertionError(f"read {prefix}")

    assert choose_prefix(chosen="popflow_1a2b3c4d_", checkout="/x", sealed_elsewhere=never) == "popflow_1a2b3c4d_"


THE_FIRST_CHECKOUTS_RUN_TWO = [
    f"popflow_{district}_{store}" for district in ("440111", "440106") for store in local.STORES
]


@pytest.mark.parametrize("districts", [["440111", "440106"], ["440111"], []])
def test_a_second_checkout_chooses_names_of_its_own_beside_the_firsts_run_two(
    districts: list[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`make run-two` in the first checkout made popflow_440111_* and popflow_440106_* (no popflow_intake). A second
    checkout's first run, side by side or not, must not take popflow_: its later `make run-two` would meet the
    first's databases, sealed with the other keys, and every service would refuse its store."""

    def sealed_by_the_first_checkout(admin_url: str, prefix: str, stores: list[str], keyring: Keyring) -> bool:
        return bool(of_prefix(THE_FIRST_CHECKOUTS_RUN_TWO, prefix, stores))

    monkeypatch.setattr(local, "sealed_elsewhere", sealed_by_the_first_checkout)
    keyring = parse_keyring("dev:" + base64.b64encode(bytes(32)).decode(), None)
    marker = tmp_path / "database-prefix"
    prefix = local._database_prefix("postgresql://popflow@127.0.0.1/postgres", keyring, marker=marker)
    assert prefix != "popflow_"
    assert marker.read_text().strip() == prefix


def test_a_prefixs_databases_are_its_own_and_any_districts_and_no_other_prefixs() -> None:
    names = [
        "popflow_intake",
        "popflow_keys",
        "popflow_440111_routing",
        "popflow_990000_keys",  # a district this run does not name
        "popflow_1a2b3c4d_intake",  # another checkout's prefix
        "popflow_1a2b3c4d_440111_intake",
        "popflow_4401_intake",  # no district code
        "popflow_intake_old",
        "popflow_billing",
        "postgres",
    ]
    assert of_prefix(names, "popflow_", local.STORES) == [
        "popflow_440111_routing",
        "popflow_990000_keys",
        "popflow_intake",
        "popflow_keys",
    ]
    assert of_prefix(names, "popflow_1a2b3c4d_", local.STORES) == [
        "popflow_1a2b3c4d_440111_intake",
        "popflow_1a2b3c4d_intake",
    ]


def test_side_by_side_databases_are_the_checkouts_prefix_and_the_district(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    made: list[str] = []

    def ensure(admin_url: str, names: list[str], *, prefix: str) -> dict[str, str]:
        made.append(prefix)
        return {name: f"sqlite+aiosqlite:///{tmp_path / (prefix + name)}.db" for name in names}

    monkeypatch.setattr(side_by_side_module, "ensure_databases", ensure)
    deployments = side_by_side_module.side_by_side(
        {}, ["440111", "440106"], state=tmp_path, pg_admin_url="postgresql://x", database_prefix="popflow_1a2b3c4d_"
    )
    assert made == ["popflow_1a2b3c4d_440111_", "popflow_1a2b3c4d_440106_"]
    # the two districts' services write to one terminal: each line says whose it is
    assert [d.env["POPFLOW_DEPLOYMENT_NAME"] for d in deployments] == ["440111", "440106"]
