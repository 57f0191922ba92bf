"""The open notices of a street as an XLSX file, for clerks who work from a spreadsheet."""

from __future__ import annotations

import io
from collections.abc import Sequence
from zoneinfo import ZoneInfo

from openpyxl import Workbook

from services.notification.adapters.sealed import OpenedNotice
from services.notification.adapters.tables import utc
from services.notification.domain.office_labels import kind_label, route_label, status_label
from services.notification.domain.office_reasons import reason_in_chinese
from shared.spreadsheets import neutralised

HEADER = ("通知编号", "类别", "路由", "姓名", "身份证号", "现住址", "事由", "下发时间", "状态")


def open_notices_xlsx(notices: Sequence[OpenedNotice], zone: ZoneInfo) -> bytes:
    """One row per notice; every text cell neutralised (a name like '=HYPERLINK(...)' stays text)."""
    book = Workbook()
    sheet = book.active
    sheet.title = "待反馈通知"
    sheet.append(HEADER)
    for notice in notices:
        person = notice.person
        row = (
            notice.notice_id,
            kind_label(notice.kind),
            route_label(notice.route),
            person.get("name", ""),
            person.get("id_number", ""),
            person.get("residence_address", ""),
            reason_in_chinese(notice.reason),
            utc(notice.issued_at).astimezone(zone).strftime("%Y-%m-%d %H:%M"),
            status_label(notice.status),
        )
        sheet.append([neutralised(value) for value in row])
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()
