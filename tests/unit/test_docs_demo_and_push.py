"""What the README and the push walk-through promise a newcomer, against what the commands do.

A second `popflow demo` with the default seed made the people the first had entered, and its place check
said "0 missed", with nothing in the README to say why; the push walk-through said the notice arrives
"within a moment", but its receiver was still starting when the first push came, and the notice arrived at
the third attempt, some 14 s later.
"""

from __future__ import annotations

import inspect
import re

from services.cli.demo import demo
from tests.support.system import ROOT


def test_the_readme_says_a_fresh_demo_takes_another_seed_and_the_demo_has_that_option() -> None:
    readme = " ".join((ROOT / "README.md").read_text(encoding="utf-8").split())
    assert "same `--seed`" in readme
    assert "0 missed" in readme
    assert "seed" in inspect.signature(demo).parameters


def test_the_push_walkthrough_waits_for_its_receiver_before_the_first_push() -> None:
    text = (ROOT / "docs" / "notification.md").read_text(encoding="utf-8")
    started = text.index("popflow receiver --port 9000")
    waited = re.search(r"until curl [^\n]*127\.0\.0\.1:9000", text[started:])
    assert waited is not None
    assert started + waited.start() < text.index("/v1/recipients/440111008/webhook")
    assert "within a moment" not in text.lower()
