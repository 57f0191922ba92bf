"""The street office's page speaks Chinese to its clerks, whatever notice it shows and whatever it refuses.

It showed the API's values as they are ("transfer", "cross-street", "not_found", "person_left"), routing's
English reasons, and the use case's English refusals: the page of a notice of each kind, in each state and
with each answer, and each refusal, is read here for words a clerk would have to know English for.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
from fastapi import FastAPI

from services.notification.domain.office import sections
from services.notification.domain.status import NoticeStatus
from services.notification.entrypoints.office import office_router
from services.notification.entrypoints.office.pages import session_cookie
from services.notification.service_layer.office import Clerk
from shared.events import FeedbackResult, NoticeKind, RejectionReason, Route
from shared.http.problems import FieldError, ProblemError, ValidationProblem, install_problem_handlers
from tests.support.words import english_words, visible_text

MOMENT = datetime(2027, 3, 1, 2, 0, tzinfo=UTC)
CLERK = Clerk(principal=None, street="440111008", key="pf_key", csrf_token="csrf-token")  # type: ignore[arg-type]
REASONS = {
    NoticeKind.TRANSFER: "person lives in your street; please verify",
    NoticeKind.CHANGE: "circumstances of a person registered or living in your area changed",
    NoticeKind.REGISTRATION: "a person registered in your area was verified living elsewhere",
    NoticeKind.RECHECK: "the person was not found at the residence; please check the record again",
    NoticeKind.REJECTION: "your transfer notice was rejected: duplicate",
    NoticeKind.FEEDBACK: "the residence district answered: confirmed",
    NoticeKind.FORWARD: "person lives in your district; please pass to the street and verify",
    NoticeKind.REMINDER: "reminder: the transfer notice 0000-0001 has no answer yet",
    NoticeKind.ESCALATION: "escalation: the transfer notice 0000-0001 to 440111008 has no answer",
}
ANSWERS: list[dict[str, Any]] = [
    {"result": FeedbackResult.CONFIRMED.value, "note": "已上门"},
    {"result": FeedbackResult.CORRECTED.value, "corrections": {"residence_address": "新市路 1 号", "name": "李四"}},
    {"result": FeedbackResult.NOT_FOUND.value},
    *({"result": FeedbackResult.REJECTED.value, "reason": reason.value} for reason in RejectionReason),
]


@dataclass
class Notice:
    notice_id: str
    kind: str
    status: str
    route: str = Route.CROSS_STREET.value
    record_id: str = "r1"
    issued_at: datetime = MOMENT
    answer_due: datetime | None = MOMENT
    answer_expected: bool = True
    answered_at: datetime | None = None
    answer: dict[str, Any] | None = None
    person: dict[str, str] = field(default_factory=lambda: {"name": "张三", "residence_address": "新市路 8 号"})

    @property
    def reason(self) -> str:
        return REASONS[NoticeKind(self.kind)]


def every_notice() -> list[Notice]:
    """A notice of each kind, route and status, and one answered with each answer."""
    notices = [Notice(f"0000-1{i:03d}", kind.value, NoticeStatus.ISSUED.value) for i, kind in enumerate(NoticeKind)]
    notices += [Notice(f"0000-2{i:03d}", "transfer", status.value) for i, status in enumerate(NoticeStatus)]
    notices += [Notice(f"0000-3{i:03d}", "transfer", "issued", route=route.value) for i, route in enumerate(Route)]
    notices += [Notice("0000-4000", "change", "delivered", answer_expected=False)]
    notices += [
        Notice(f"0000-5{i:03d}", "transfer", "answered", answered_at=MOMENT, answer=answer)
        for i, answer in enumerate(ANSWERS)
    ]
    return notices


class FakeDesk:
    zone = ZoneInfo("Asia/Shanghai")

    def __init__(self, refusal: ProblemError | None = None) -> None:
        self.notices = {n.notice_id: n for n in every_notice()}
        self.refusal = refusal

    async def clerk(self, token: str) -> Clerk:
        return CLERK

    async def piles(self, clerk: Clerk) -> Any:
        return sections(list(self.notices.values()))

    def week_due(self) -> tuple[str, datetime]:
        return "2027-W09", MOMENT

    async def notice(self, clerk: Clerk, notice_id: str) -> Notice:
        if notice_id not in self.notices:
            raise ProblemError(404, "Not Found", "No notice with this id in your scope.")
        return self.notices[notice_id]

    async def answer(self, clerk: Clerk, notice_id: str, form: dict[str, str]) -> None:
        assert self.refusal is not None
        raise self.refusal


def clerk_browser(desk: FakeDesk) -> httpx.AsyncClient:
    app = FastAPI()
    install_problem_handlers(app)
    app.include_router(office_router(desk, secure_cookie=False, lifetime_s=1800))  # type: ignore[arg-type]
    browser = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://popflow.test")
    browser.cookies.set(session_cookie(False).name, "a-session")
    return browser


async def read(browser: httpx.AsyncClient, path: str, **form: str) -> str:
    answer = await (browser.post(path, data=form) if form else browser.get(path))
    assert answer.headers["content-type"].startswith("text/html"), answer.text
    return visible_text(answer.text)


async def test_the_inbox_with_a_notice_of_each_kind_and_state_holds_no_english() -> None:
    async with clerk_browser(FakeDesk()) as browser:
        shown = await read(browser, "/office")
    for label in ("转办核实", "核实有误（更正）", "此人现住本街道，请核实"):
        assert label in shown
    assert english_words(shown) == []


@pytest.mark.parametrize("notice", every_notice(), ids=lambda n: f"{n.kind}-{n.route}-{n.status}-{n.answer}")
async def test_each_notice_page_holds_no_english(notice: Notice) -> None:
    async with clerk_browser(FakeDesk()) as browser:
        shown = await read(browser, f"/office/notices/{notice.notice_id}")
    assert english_words(shown) == []


WRONG_ANSWERS = [
    ValidationProblem([FieldError.at(("result",), "choose confirmed, corrected, not found or rejected")]),
    ValidationProblem([FieldError.at(("corrections",), "is required with result 'corrected': list the fields")]),
    ValidationProblem([FieldError.at(("reason",), "is required with result 'rejected': wrong_recipient, ...")]),
    ValidationProblem(
        [
            FieldError.at(("corrections", "residence_street"), "must be a 9-digit street code"),
            FieldError.at(("corrections", "residence_street"), "is not a current street code of the directory"),
            FieldError.at(("corrections", "name"), "must be 1-50 characters, not blank"),
        ]
    ),
    ProblemError(409, "Conflict", "This notice has already been answered; an answer cannot be changed."),
]


@pytest.mark.parametrize("refusal", WRONG_ANSWERS, ids=lambda p: f"{p.status}-{p.extra.get('errors', '')}")
async def test_a_refused_answer_is_explained_in_chinese(refusal: ProblemError) -> None:
    async with clerk_browser(FakeDesk(refusal)) as browser:
        shown = await read(browser, "/office/notices/0000-1000/answer", csrf=CLERK.csrf_token, result="corrected")
    assert english_words(shown) == []
    assert "反馈" in shown


async def test_a_stale_form_and_a_missing_notice_are_pages_in_chinese() -> None:
    async with clerk_browser(FakeDesk()) as browser:
        stale = await browser.post("/office/notices/0000-1000/answer", data={"csrf": "old", "result": "confirmed"})
        missing = await browser.get("/office/notices/no-such-notice")
        too_long = await browser.get("/office/notices/" + "9" * 40)
    assert (stale.status_code, missing.status_code, too_long.status_code) == (403, 404, 422)
    for page in (stale, missing, too_long):
        assert page.headers["content-type"].startswith("text/html")
        assert english_words(visible_text(page.text)) == [], page.text
    assert "表单已过期" in stale.text
    assert "没有这条通知" in missing.text
