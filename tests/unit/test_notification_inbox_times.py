"""A notice's times read back as the instants routing sent, on SQLite too (it drops a time's offset)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

from services.notification.adapters.inbox import Inbox
from services.notification.adapters.outbox import StatusEvents
from services.notification.adapters.sealed import SealedNotices
from services.notification.adapters.tables import utc
from services.notification.bootstrap import MIGRATIONS
from shared.db import build_engine, run_migrations, session_factory
from shared.events import NoticePerson, Route
from tests.support.infra import TEST_KEYRING
from tests.support.notices import issued_notice
from tests.support.records import id_number

SHANGHAI = timezone(timedelta(hours=8))


async def test_local_times_are_kept_as_the_same_instants_on_sqlite(tmp_path: Path) -> None:
    engine = build_engine(f"sqlite+aiosqlite:///{tmp_path}/notification.db")
    await run_migrations(engine, MIGRATIONS)
    sealed = SealedNotices(TEST_KEYRING)
    inbox = Inbox(session_factory(engine), StatusEvents(b"test-person-key-secret", sealed), sealed)
    issued, due = datetime(2027, 2, 24, 10, tzinfo=SHANGHAI), datetime(2027, 3, 1, tzinfo=SHANGHAI)
    notice = issued_notice(
        notice_id="00000000-0000-4000-8000-000000000001",
        record_id="10000000-0000-4000-8000-000000000001",
        recipient_code="440111008",
        route=Route.CROSS_STREET,
        reason="person lives in your street; please verify",
        person=NoticePerson(name="张三", id_number=id_number(), residence_address="同德路 8 号"),
        issued_at=issued,
        answer_due=due,
    )
    try:
        await inbox.store_many([notice], now=datetime(2027, 2, 24, 2, 1, tzinfo=UTC), handoff=None)
        kept = await inbox.get(notice.notice_id)
    finally:
        await engine.dispose()
    assert kept is not None
    assert kept.answer_due is not None
    assert utc(kept.answer_due) == due  # 2027-02-28T16:00Z, not 2027-03-01T00:00Z
    assert utc(kept.issued_at) == issued
