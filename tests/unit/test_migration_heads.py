"""Every migration history has one head: two branches that each add a migration numbered the same merge cleanly in
git but leave Alembic with two heads, and the service would not start."""

from __future__ import annotations

from pathlib import Path

import pytest
from alembic.config import Config
from alembic.script import ScriptDirectory

from services.intake.bootstrap import MIGRATIONS as INTAKE
from services.notification.bootstrap import MIGRATIONS as NOTIFICATION
from services.reporting.bootstrap import MIGRATIONS as REPORTING
from services.routing.bootstrap import MIGRATIONS as ROUTING
from shared.auth.store import MIGRATIONS as KEYS
from shared.db.sentinel import MIGRATIONS as SENTINEL

HISTORIES = {
    "intake": INTAKE,
    "routing": ROUTING,
    "notification": NOTIFICATION,
    "reporting": REPORTING,
    "keys": KEYS,
    "sentinel": SENTINEL,
}


@pytest.mark.parametrize("name", sorted(HISTORIES))
def test_one_head(name: str) -> None:
    config = Config()
    config.set_main_option("script_location", str(Path(HISTORIES[name])))
    assert len(ScriptDirectory.from_config(config).get_heads()) == 1
