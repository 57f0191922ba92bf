"""Reading records back: only what the reader's scope covers, every read audited, the person opened.

A reader's scope covers the records reported under its streets and under the
retired streets they succeeded (domain/successors.py), as for submitting.

The read audit is written before the answer leaves, so no record is shown
without a line saying who read it and why. The answer is opened first: a
record whose sealed parts do not open here (UnopenedRecord) is shown to no
one, and audited as read by no one.
"""

from __future__ import annotations

import enum
from typing import Any

from services.intake.adapters.audit import ReadAudit
from services.intake.adapters.notice_recipients import NoticeRecipients
from services.intake.adapters.repository import RecordRepository
from services.intake.adapters.sealed import open_record
from services.intake.adapters.tables import RecordRow
from services.intake.domain.successors import StreetSuccessors
from shared.auth import Principal, ScopeKind
from shared.directory import DivisionChanges
from shared.identity import person_key
from shared.notice_grants import granted_to
from shared.sealing import BrokenSeal, Keyring, SealError, UnknownKeyId


class Unseen(enum.Enum):
    """Why one record is not shown."""

    MISSING = "missing"
    OUT_OF_SCOPE = "out_of_scope"


class UnopenedRecord(Exception):
    """A stored record's sealed part does not open with the deployment's data keys (POPFLOW_DATA_KEYS): the
    deployment's configuration is at fault, not the reader. Says the record id and key id, nothing of the record."""

    def __init__(self, record_id: str, error: SealError) -> None:
        self.record_id = record_id
        self.key_id = error.key_id
        self.reason = type(error).__name__
        if isinstance(error, UnknownKeyId):
            why = f"was sealed with data key id {self.key_id!r}, which POPFLOW_DATA_KEYS does not hold"
        elif isinstance(error, BrokenSeal):
            why = (
                f"does not open with data key id {self.key_id!r}: POPFLOW_DATA_KEYS holds another key "
                "under that id, or the stored value was altered"
            )
        else:
            why = "holds a sealed value that is malformed"
        super().__init__(f"Record {record_id} {why}")


class RecordReads:
    def __init__(
        self,
        repository: RecordRepository,
        audit: ReadAudit,
        keyring: Keyring,
        person_secret: bytes,
        notices: NoticeRecipients,
        changes: DivisionChanges | None = None,
    ) -> None:
        self._successors = StreetSuccessors.of(changes)
        self._repository = repository
        self._audit = audit
        self._keyring = keyring
        self._person_secret = person_secret
        self._notices = notices

    async def one(
        self,
        principal: Principal,
        record_id: str,
        *,
        purpose: str,
        notice_id: str | None = None,
        grant: str | None = None,
    ) -> dict[str, Any] | Unseen:
        """The record with its case's versions, or why it is not shown.

        Outside the reader's scope, `notice_id` may open it: when that notice is
        about this record and was sent to an office the reader acts for, the
        record alone is shown (no other version of the case), audited with the notice.
        Intake knows a notice from notices.issued, or from the `grant` its link
        carries when the link is opened before that (shared.notice_grants).
        A read refused (no such record, or one outside the scope that no notice
        opens) is audited as `refused`, naming the record when there is one.
        """
        why = _with_notice(purpose, notice_id)[:200]  # the audit's column
        row = await self._repository.get(record_id)
        if row is None:
            await self._audit.record(principal, action="refused", record_ids=[], purpose=why)
            return Unseen.MISSING
        if not self._successors.may_read(principal, row.reporting_street):
            if notice_id is None or not await self._notice_opens(principal, notice_id, record_id, grant):
                # asked for and not shown: the privacy officer sees an office trying records not its own
                await self._audit.record(principal, action="refused", record_ids=[record_id], purpose=why)
                return Unseen.OUT_OF_SCOPE
            shown = present(row, self._keyring) | {"notice_id": notice_id}
            await self._audit.record(principal, action="read-by-notice", record_ids=[record_id], purpose=why)
            return shown
        # versions reported by streets outside the scope stay unseen, ids included
        versions = [
            v for v in await self._repository.versions(row) if self._successors.may_read(principal, v.reporting_street)
        ]
        shown = present(row, self._keyring) | {"versions": [version_summary(v) for v in versions]}
        await self._audit.record(principal, action="read", record_ids=[row.record_id], purpose=purpose)
        return shown

    async def _notice_opens(self, principal: Principal, notice_id: str, record_id: str, grant: str | None) -> bool:
        if not notice_id.isprintable():
            # no notice's id (they are UUIDs), and text the store cannot look up (a NUL): its error answered 422
            # and left the refused read unaudited
            return False
        notice = await self._notices.get(notice_id)
        if notice is not None:
            return notice.record_id == record_id and principal.can_access(notice.recipient_code)
        if grant is None:
            return False
        recipient = granted_to(self._keyring, grant, notice_id=notice_id, record_id=record_id)
        return recipient is not None and principal.can_access(recipient)

    async def of_person(self, principal: Principal, id_number: str, *, purpose: str) -> list[dict[str, Any]]:
        """Every record of the person inside the reader's scope, oldest first."""
        rows = await self._repository.of_person(person_key(id_number, self._person_secret))
        rows = [row for row in rows if self._successors.may_read(principal, row.reporting_street)]
        return await self._shown(principal, "search", rows, purpose)

    async def listing(self, principal: Principal, *, limit: int, offset: int, purpose: str) -> list[dict[str, Any]]:
        """A page of the records inside the reader's scope, newest first."""
        prefix = "" if principal.scope.kind is ScopeKind.ADMIN else principal.scope.code
        also = self._successors.taken_over(principal)
        rows = await self._repository.listing(street_prefix=prefix, also=also, limit=limit, offset=offset)
        return await self._shown(principal, "list", rows, purpose)

    async def _shown(
        self, principal: Principal, action: str, rows: list[RecordRow], purpose: str
    ) -> list[dict[str, Any]]:
        shown = [present(row, self._keyring) for row in rows]
        await self._audit.record(principal, action=action, record_ids=[row.record_id for row in rows], purpose=purpose)
        return shown


def _with_notice(purpose: str, notice_id: str | None) -> str:
    """The audit's purpose, naming the notice a read came with (its printable characters: a refused read's
    notice id is any text, and a NUL in it would fail the audit row)."""
    if notice_id is None:
        return purpose
    notice = "".join(char for char in notice_id if char.isprintable())
    return f"notice {notice}" + (f": {purpose}" if purpose else "")


def present(row: RecordRow, keyring: Keyring) -> dict[str, Any]:
    """The record as submitted (person and sealed parts opened) with what intake added; UnopenedRecord when
    a sealed part does not open with `keyring`."""
    try:
        person = keyring.open(row.person_sealed, context=row.record_id) if row.person_sealed else None
        record = open_record(row.record, row.record_id, keyring)
    except SealError as error:
        raise UnopenedRecord(row.record_id, error) from None
    if person is not None:
        record = {"person": person, **record}
    return {
        "record_id": row.record_id,
        "case_id": row.case_id,
        "case_version": row.case_version,
        "status": "routed" if row.route else "accepted",
        "route": row.route,
        "received_at": row.received_at.isoformat(),
        "record": record,
    }


def version_summary(row: RecordRow) -> dict[str, Any]:
    """One version of a case, without personal data."""
    return {
        "record_id": row.record_id,
        "case_version": row.case_version,
        "event": row.record.get("event"),
        "reporting_street": row.reporting_street,
        "observed_at": row.record.get("observed_at"),
        "received_at": row.received_at.isoformat(),
    }
