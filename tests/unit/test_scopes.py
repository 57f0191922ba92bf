"""Key scopes over division codes."""

from __future__ import annotations

import pytest

from shared.auth import Principal, ScopeKind, parse_scope


@pytest.mark.parametrize(
    ("scope", "code", "allowed"),
    [
        ("street:440111005", "440111005", True),
        ("street:440111005", "440111008", False),
        ("street:440111005", "440111", False),
        ("district:440111", "440111008", True),
        ("district:440111", "440111", True),
        ("district:440111", "440106001", False),
        ("admin", "310115005", True),
    ],
)
def test_scope_covers(scope: str, code: str, allowed: bool) -> None:
    assert Principal(key_id="k", scope=parse_scope(scope)).can_access(code) is allowed


@pytest.mark.parametrize("text", ["street:44011100", "district:4401", "root", "street:", ""])
def test_malformed_scopes_are_refused(text: str) -> None:
    with pytest.raises(ValueError, match="scope is"):
        parse_scope(text)


def test_scope_round_trips_as_text() -> None:
    for text in ("street:440111005", "district:440111", "admin"):
        assert str(parse_scope(text)) == text
    assert parse_scope("admin").kind is ScopeKind.ADMIN
