"""`make run` in a checkout uses databases its keys open: its secrets live in its var/, so another checkout's
databases (sealed with other keys) would refuse it."""

from __future__ import annotations

from services.cli.databases import choose_prefix


def test_databases_that_open_with_this_checkouts_keys_keep_the_plain_names() -> None:
    assert choose_prefix(chosen=None, others_sealed_elsewhere=False, checkout="/home/a/popflow") == "popflow_"


def test_a_second_checkout_gets_names_of_its_own_and_two_checkouts_differ() -> None:
    first = choose_prefix(chosen=None, others_sealed_elsewhere=True, checkout="/home/a/popflow")
    second = choose_prefix(chosen=None, others_sealed_elsewhere=True, checkout="/home/b/second-clone")
    assert first.startswith("popflow_")
    assert first != "popflow_"
    assert first.endswith("_")
    assert len(first) == len("popflow_") + 9
    assert first != second


def test_what_a_checkout_chose_once_stays() -> None:
    assert choose_prefix(chosen="popflow_1a2b3c4d_", others_sealed_elsewhere=True, checkout="/x") == (
        "popflow_1a2b3c4d_"
    )
