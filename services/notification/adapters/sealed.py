"""The personal parts of a stored notice, sealed (shared.sealing) and bound to the notice id.

The inbox keeps the person (name, identity number, residence address) and the
answer (a corrected name or address, free text) only sealed; whoever shows a
notice (the inbox routes, the webhook push) opens them here.
"""

from __future__ import annotations

from typing import Any

from services.notification.adapters.tables import InboxNotice, StoredNotice
from shared.sealing import Keyring


class OpenedNotice:
    """A stored notice with its person and answer opened, for the pages and sheets that show them.

    Every other attribute is the stored row's.
    """

    def __init__(self, notice: InboxNotice, person: dict[str, Any], answer: dict[str, Any] | None) -> None:
        self.notice, self.person, self.answer = notice, person, answer

    def __getattr__(self, name: str) -> Any:
        return getattr(self.notice, name)


class SealedNotices:
    def __init__(self, keyring: Keyring) -> None:
        self.keyring = keyring

    def seal_person(self, notice_id: str, person: dict[str, Any]) -> str:
        return self.keyring.seal(person, context=f"{notice_id}/person")

    def person(self, notice: StoredNotice) -> dict[str, Any]:
        opened: dict[str, Any] = self.keyring.open(notice.person_sealed, context=f"{notice.notice_id}/person")
        return opened

    def seal_answer(self, notice_id: str, answer: dict[str, Any]) -> str:
        return self.keyring.seal(answer, context=f"{notice_id}/answer")

    def answer(self, notice: InboxNotice) -> dict[str, Any] | None:
        if notice.answer_sealed is None:
            return None
        opened: dict[str, Any] = self.keyring.open(notice.answer_sealed, context=f"{notice.notice_id}/answer")
        return opened

    def opened(self, notice: InboxNotice) -> OpenedNotice:
        return OpenedNotice(notice, self.person(notice), self.answer(notice))
