"""A notice's reason on the street office's page: routing's English sentence, read in Chinese.

Routing writes the reasons (routing.domain.workflow) and the API keeps them; the page showed them as they
came ("person lives in your street; please verify") to clerks who read Chinese. Every reason below is made
by routing's own functions, so a sentence routing rewords shows up here, untranslated, and fails.
"""

from __future__ import annotations

from datetime import date

import pytest

from services.notification.domain.office_reasons import reason_in_chinese
from services.routing.domain.cases import Case, Outflow
from services.routing.domain.notices import PlannedNotice
from services.routing.domain.recipients import ExchangeEndpoint, ExchangeTable, Recipients
from services.routing.domain.succession import noted
from services.routing.domain.workflow import (
    answer,
    change_notices,
    follow_up_notice,
    left_notice,
    open_case,
    outflow_notice,
)
from shared.directory import load_directory
from shared.directory.changes import CodeStatus, Resolution
from shared.events import EventKind, NoticeKind
from tests.support.cases import reply, routing_case
from tests.support.words import english_words

TONGDE, XINSHI, WUSHAN = "440111005", "440111008", "440106001"
ONE_DISTRICT = Recipients.of(["440111"], ExchangeTable(by_prefix={}, default=ExchangeEndpoint("cn", "https://cn")))
TWO_DISTRICTS = Recipients.of(["440111", "440106"], ExchangeTable(by_prefix={}, default=None))


def case(residence: str, *, event: EventKind = EventKind.NEW_INFLOW) -> Case:
    return routing_case(residence, event=event)


def answered(notice: PlannedNotice, result: str, **fields: object) -> list[PlannedNotice]:
    return answer(case(XINSHI), notice, reply(notice, result, **fields), ONE_DISTRICT, load_directory()).notices


def routings_reasons() -> list[str]:
    (transfer,) = open_case(case(XINSHI), ONE_DISTRICT).notices
    retired = Resolution("440113118", CodeStatus.SUCCEEDED, ("440113017",), since=date(2021, 1, 1))
    notices = [
        transfer,
        *open_case(case(WUSHAN), ONE_DISTRICT).notices,
        *open_case(case(WUSHAN), TWO_DISTRICTS).notices,
        *change_notices(case(WUSHAN, event=EventKind.CHANGE), ONE_DISTRICT),
        outflow_notice(case(XINSHI), Outflow(XINSHI, None), ONE_DISTRICT),
        outflow_notice(case(XINSHI), Outflow(XINSHI, WUSHAN), ONE_DISTRICT),
        left_notice(case(XINSHI), Outflow(XINSHI, None), ONE_DISTRICT),
        follow_up_notice(case(XINSHI), transfer, NoticeKind.REMINDER, ONE_DISTRICT),
        follow_up_notice(case(XINSHI), transfer, NoticeKind.ESCALATION, ONE_DISTRICT),
        *answered(transfer, "confirmed"),
        *answered(transfer, "not_found"),
        *answered(transfer, "rejected", reason="person_left"),
        *noted(open_case(case(XINSHI), ONE_DISTRICT), f"residence.street {retired.note()}").notices,
    ]
    return [n.reason for n in notices] + ["the residence district answered: corrected"]


@pytest.mark.parametrize("reason", routings_reasons())
def test_every_reason_routing_writes_reads_in_chinese(reason: str) -> None:
    shown = reason_in_chinese(reason)
    assert not english_words(shown), shown


def test_codes_and_ids_are_carried_over() -> None:
    assert (
        reason_in_chinese("reminder: the transfer notice 0f1e-77 has no answer yet")
        == "催办：转办核实通知 0f1e-77 尚未反馈"
    )
    shown = reason_in_chinese(
        "person lives in your street; please verify"
        " (residence.street 440113118 was retired since 2021-01-01; its successor 440113017 is used)"
    )
    assert shown == "此人现住本街道，请核实（现住街道代码 440113118 自 2021-01-01 起已撤销，改用其继承代码 440113017）"


@pytest.mark.parametrize("reason", ["请核实此人现住址", "please verify", "person lives in your street; please ve"])
def test_a_reason_routing_did_not_write_is_shown_as_it_came(reason: str) -> None:
    assert reason_in_chinese(reason) == reason
