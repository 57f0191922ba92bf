"""Key scopes over division codes."""

from __future__ import annotations

import pytest

from shared.auth import Action, Principal, Role, ScopeKind, check_role, parse_scope


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


# --- roles -----------------------------------------------------------------

STREET = "440111005"
OTHER_STREET = "440111008"

ROLE_TABLE = [
    # (scope, role, action, code, allowed)
    ("street:440111005", Role.SUBMITTER, Action.SUBMIT, STREET, True),
    ("street:440111005", Role.SUBMITTER, Action.SUBMIT, OTHER_STREET, False),
    ("street:440111005", Role.SUBMITTER, Action.READ, STREET, False),
    ("street:440111005", Role.SUBMITTER, Action.ANSWER, STREET, False),
    ("district:440111", Role.SUBMITTER, Action.SUBMIT, OTHER_STREET, True),
    ("district:440111", Role.SUBMITTER, Action.READ, OTHER_STREET, False),
    ("street:440111005", Role.OFFICE, Action.READ, STREET, True),
    ("street:440111005", Role.OFFICE, Action.ANSWER, STREET, True),
    ("street:440111005", Role.OFFICE, Action.READ, OTHER_STREET, False),
    ("street:440111005", Role.OFFICE, Action.SUPERVISE, STREET, False),
    ("district:440111", Role.BUREAU, Action.SUPERVISE, OTHER_STREET, True),
    ("district:440111", Role.BUREAU, Action.READ, "440106001", False),
    ("district:440111", Role.BUREAU, Action.ADMINISTER, None, False),
    ("admin", Role.ADMIN, Action.ADMINISTER, None, True),
    ("admin", Role.ADMIN, Action.READ, "430102001", True),
]


@pytest.mark.parametrize(("scope", "role", "action", "code", "allowed"), ROLE_TABLE)
def test_role_and_scope_decide_together(
    scope: str, role: Role, action: Action, code: str | None, allowed: bool
) -> None:
    principal = Principal(key_id="k", scope=parse_scope(scope), role=role)
    assert principal.may(action, code) is allowed


def test_keys_made_before_roles_keep_what_their_scope_allowed() -> None:
    assert Principal(key_id="k", scope=parse_scope("street:440111005")).may(Action.ANSWER, STREET)
    assert Principal(key_id="k", scope=parse_scope("district:440111")).is_bureau
    assert not Principal(key_id="k", scope=parse_scope("street:440111005")).is_bureau


@pytest.mark.parametrize(
    ("scope", "role"), [("admin", Role.OFFICE), ("district:440111", Role.OFFICE), ("street:440111005", Role.BUREAU)]
)
def test_a_role_must_fit_its_scope(scope: str, role: Role) -> None:
    with pytest.raises(ValueError, match="needs a scope"):
        check_role(parse_scope(scope), role)
