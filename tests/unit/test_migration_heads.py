"""Every migration history has one head: two branches that each add a migration numbered the same merge cleanly in
git but leave Alembic with two heads, and the service would not start."""

from __future__ import annotations

from pathlib import Path

import pytest
from alembic.config import Config
from alembic.script import ScriptDirectory

from tests.support.migrations import HISTORIES


@pytest.mark.parametrize("name", sorted(HISTORIES))
def test_one_head(name: str) -> None:
    config = Config()
    config.set_main_option("script_location", str(Path(HISTORIES[name])))
    assert len(ScriptDirectory.from_config(config).get_heads()) == 1
