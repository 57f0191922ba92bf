"""Exports never hand a spreadsheet a formula, and week names are matched whole."""

from __future__ import annotations

import csv
import io
from zoneinfo import ZoneInfo

import pytest
from openpyxl import load_workbook

from services.reporting.adapters.exports import to_csv, to_xlsx
from services.reporting.domain.sheets import Sheet
from services.reporting.domain.weeks import report_week

HOSTILE = ('=HYPERLINK("http://evil.example","x")', "+1+1", "-2+3", "@SUM(A1)", "\tX", "\r=1")


def sheet() -> Sheet:
    rows = tuple((n, text, -5, 1.5) for n, text in enumerate(HOSTILE, start=1))
    return Sheet("=title", ("+line",), ("序号", "备注", "差", "率"), rows)


def test_csv_cells_that_look_like_formulas_stay_text() -> None:
    rows = list(csv.reader(io.StringIO(to_csv(sheet()).decode("utf-8-sig"))))
    assert rows[0] == ["'=title"]
    assert rows[1] == ["'+line"]
    assert [row[1] for row in rows[3:]] == ["'" + text for text in HOSTILE]
    assert [row[2] for row in rows[3:]] == ["-5"] * len(HOSTILE)  # numbers stay numbers


def test_xlsx_cells_that_look_like_formulas_stay_text() -> None:
    page = load_workbook(io.BytesIO(to_xlsx(sheet()))).active
    assert page is not None
    values = [[cell.value for cell in row] for row in page.iter_rows()]
    assert values[0][0] == "'=title"
    # XLSX keeps line ends as \n
    assert [row[1] for row in values[3:]] == ["'" + text.replace("\r", "\n") for text in HOSTILE]
    assert [row[2] for row in values[3:]] == [-5] * len(HOSTILE)
    assert all(cell.data_type != "f" for row in page.iter_rows() for cell in row)


def test_control_characters_a_workbook_cannot_hold_are_written_as_spaces() -> None:
    # a note stored before the door refused them: the whole file failed to write (openpyxl refuses them)
    typed = Sheet("t", (), ("备注",), (("地址不符\u000b门牌\x00 3 号",), ("\x1b=1",), ("行\n行\t列",)))
    page = load_workbook(io.BytesIO(to_xlsx(typed))).active
    assert page is not None
    assert [row[0].value for row in page.iter_rows(min_row=3)] == ["地址不符 门牌  3 号", " =1", "行\n行\t列"]
    rows = list(csv.reader(io.StringIO(to_csv(typed).decode("utf-8-sig"))))
    assert [row[0] for row in rows[2:]] == ["地址不符 门牌  3 号", " =1", "行\n行\t列"]


@pytest.mark.parametrize("name", ["2027-W08\n", "2027-W08\r\nX-Evil: 1", " 2027-W08", "２０２７-W08", "2027-W٠8"])
def test_a_week_name_must_match_whole(name: str) -> None:
    with pytest.raises(ValueError, match="YYYY-Www"):
        report_week(name, ZoneInfo("Asia/Shanghai"))
