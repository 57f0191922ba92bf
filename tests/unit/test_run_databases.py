"""`make run` in a checkout uses databases its keys open: its secrets live in its var/, so another checkout's
databases (sealed with other keys) would refuse it."""

from __future__ import annotations

import pytest

from services.cli.databases import choose_prefix


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
