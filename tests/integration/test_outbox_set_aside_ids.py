"""An id no outbox row can have (beyond its 32-bit column) is a 404 as any unknown id, in every service."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI, Request

from services.intake.adapters.tables import OutboxRow as IntakeOutboxRow
from services.intake.bootstrap import MIGRATIONS as INTAKE_MIGRATIONS
from services.notification.adapters.tables import OutboxRow as StatusOutboxRow
from services.notification.bootstrap import MIGRATIONS as NOTIFICATION_MIGRATIONS
from shared.auth import Principal, Role, Scope, ScopeKind
from shared.db import session_factory
from shared.db.outbox_set_aside import SetAsideRows
from shared.http.outbox_admin import outbox_admin_router
from shared.http.problems import install_problem_handlers
from tests.support.stores import migrated_store

OUTBOXES = [
    pytest.param(INTAKE_MIGRATIONS, IntakeOutboxRow, id="intake"),
    pytest.param(NOTIFICATION_MIGRATIONS, StatusOutboxRow, id="notification"),
]


async def _admin(_: Request) -> Principal:
    return Principal(key_id="k", scope=Scope(ScopeKind.ADMIN), role=Role("admin"))


@pytest.mark.parametrize(("migrations", "table"), OUTBOXES)
async def test_an_id_beyond_the_column_is_no_rows_and_answers_404(
    migrations: Path, table: type[Any], tmp_path: Path
) -> None:
    async with migrated_store("postgresql", "outbox_ids_", migrations, tmp_path) as engine:
        rows = SetAsideRows(session_factory(engine), table, wake=lambda: None)
        app = FastAPI()
        install_problem_handlers(app)
        app.include_router(outbox_admin_router(authenticate=_admin, rows=rows))
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as http:
            for row_id in (2**31 - 1, 2**31, 2**62):
                for action in ("retry", "discard"):
                    response = await http.post(f"/v1/admin/outbox/set-aside/{row_id}/{action}")
                    assert response.status_code == 404, (row_id, action, response.text)
            assert (await http.post(f"/v1/admin/outbox/set-aside/{2**62 + 1}/retry")).status_code == 422
