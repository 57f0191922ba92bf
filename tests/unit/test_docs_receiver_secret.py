"""The `popflow receiver` commands of the README and docs/ run as written.

The README's quick start said `popflow receiver --port 9000 --secret S`; typed as written, the receiver
refused it ("a webhook secret starts with whsec_") and a newcomer had no secret to put in its place.
"""

from __future__ import annotations

import re

import pytest

from services.notification.domain.signing import key_of
from tests.support.system import ROOT

RECEIVER = re.compile(r"popflow receiver\b[^`\n]*?--secret[ =](\"[^\"]*\"|'[^']*'|[^\s`]+)")


def _secrets_written_out() -> list[tuple[str, str]]:
    documents = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
    found = []
    for path in documents:
        one_line = " ".join(path.read_text(encoding="utf-8").replace("\\\n", " ").splitlines())
        found += [(path.name, match.group(1).strip("\"'")) for match in RECEIVER.finditer(one_line)]
    return found


def test_the_documents_start_the_receiver_somewhere() -> None:
    assert any(name == "README.md" for name, _ in _secrets_written_out())


@pytest.mark.parametrize(("document", "secret"), _secrets_written_out())
def test_every_secret_given_to_the_receiver_is_a_variable_or_one_it_takes(document: str, secret: str) -> None:
    # a variable is set by the walk-through from what the webhook's registration answered
    assert secret.startswith("$") or _taken(secret), f"{document}: the receiver refuses --secret {secret}"


def _taken(secret: str) -> bool:
    try:
        key_of(secret)
    except ValueError:
        return False
    return True
