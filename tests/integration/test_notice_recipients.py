"""Intake's notice recipients on both stores: a batch in one statement, idempotent under re-delivery."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from services.intake.adapters.notice_recipients import NoticeRecipients
from services.intake.bootstrap import MIGRATIONS
from shared.db import session_factory
from tests.support.notices import numbered_notice
from tests.support.stores import STORES, migrated_store


@pytest.fixture(params=STORES)
async def recipients(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[NoticeRecipients]:
    async with migrated_store(request.param, "intake_", MIGRATIONS, tmp_path) as engine:
        yield NoticeRecipients(session_factory(engine))


notice = numbered_notice


async def test_a_batch_is_noted_once_however_often_it_comes(recipients: NoticeRecipients) -> None:
    await recipients.note_many([notice(1), notice(2, "440106001"), notice(1)])  # a repeat within the batch
    await recipients.note_many([notice(2, "440106001"), notice(3, kind="forward")])  # re-delivered, and one new
    await recipients.note_many([])

    noted = [await recipients.get(notice(n).notice_id) for n in (1, 2, 3, 4)]
    assert [(row.record_id, row.recipient_code, row.kind) if row else None for row in noted] == [
        (notice(1).record_id, "440111008", "transfer"),
        (notice(2).record_id, "440106001", "transfer"),
        (notice(3).record_id, "440111008", "forward"),
        None,
    ]
