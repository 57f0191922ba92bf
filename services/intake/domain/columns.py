"""Spreadsheet and CSV columns of a case record, in English and Chinese. Pure.

A header may be the dotted English path (`person.id_number`), the flat
English name (`id_number`) or the Chinese name (`身份证号`). Cells become the
same nested record a JSON integrator would send. Department lists write
values their own way, so a few are read leniently: Chinese words for the
allowed values (男 → male), dates as Excel writes them in China (2026/1/10,
2026年1月10日), and a time without offset,
which is China Standard Time (+08:00).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from typing import Any, cast

from openpyxl.utils import get_column_letter

from services.intake.domain.identity import ID_NUMBER
from shared.events import EventKind
from shared.events.record_parts import CertificateResult, ChangeKind, KeyAreaKind, MaritalStatus, Sex, SourceKind

CHINA = timezone(timedelta(hours=8))
# year, month, day: 2026/1/10, 2026-01-10, 2026.1.10, or 2026年1月10日 once 年 and 月 are read as separators
LOCAL_DATE = re.compile(r"([0-9]{4})[/.-]([0-9]{1,2})[/.-]([0-9]{1,2})")
ONE_DIGIT_HOUR = re.compile(r"^([0-9]:)")
IGNORED = frozenset({"errors", "错误", "row", "行号"})  # added by `popflow import` to its file of rejected rows


@dataclass(frozen=True, slots=True)
class Column:
    path: tuple[str, ...]
    flat: str
    chinese: tuple[str, ...]

    @property
    def dotted(self) -> str:
        return ".".join(self.path)


COLUMNS: tuple[Column, ...] = (
    Column(("event",), "event", ("事件类型", "事件")),
    Column(ID_NUMBER, "id_number", ("身份证号", "身份证号码", "公民身份号码")),
    Column(("person", "name"), "name", ("姓名",)),
    Column(("person", "sex"), "sex", ("性别",)),
    Column(("person", "phone"), "phone", ("联系电话", "电话")),
    Column(("residence", "street"), "residence_street", ("现居住街道", "居住街道")),
    Column(("residence", "community"), "community", ("社区", "社区代码")),
    Column(("residence", "address"), "residence_address", ("现居住地址", "居住地址")),
    Column(("residence", "arrived_on"), "arrived_on", ("流入时间", "流入日期")),
    Column(("registration", "division"), "registration_division", ("户籍地", "户籍地代码")),
    Column(("registration", "address"), "registration_address", ("户籍地址",)),
    Column(("marital_status",), "marital_status", ("婚姻状况",)),
    Column(("certificate", "result"), "certificate_result", ("查验结果", "婚育证明查验结果")),
    Column(("certificate", "checked_on"), "certificate_checked_on", ("查验日期",)),
    Column(("certificate", "number"), "certificate_number", ("婚育证明编号", "证明编号")),
    Column(("certificate", "issuing_division"), "certificate_issuing_division", ("发证机关", "发证地")),
    Column(("certificate", "issued_on"), "certificate_issued_on", ("发证日期",)),
    Column(("certificate", "valid_until"), "certificate_valid_until", ("有效期至",)),
    Column(("employer", "name"), "employer_name", ("工作单位", "单位名称")),
    Column(("employer", "credit_code"), "employer_credit_code", ("统一社会信用代码", "信用代码")),
    Column(("source_kind",), "source_kind", ("来源", "信息来源")),
    Column(("key_area",), "key_area", ("重点场所类型", "场所类型")),
    Column(("reporting_street",), "reporting_street", ("报告街道", "填报街道")),
    Column(("observed_at",), "observed_at", ("发现时间", "清查时间")),
    Column(("new_residence", "street"), "new_residence_street", ("新居住街道", "流向街道")),
    Column(("new_residence", "address"), "new_residence_address", ("新居住地址", "流向地址")),
    Column(("change",), "change", ("变更事项", "变更类型")),
    Column(("external_id",), "external_id", ("外部编号", "来源编号")),
)

BY_HEADER: dict[str, Column] = {
    name: column for column in COLUMNS for name in (column.dotted, column.flat, *column.chinese)
}

# the Chinese words department lists use for the contract's enum values
VALUE_WORDS: dict[tuple[str, ...], dict[str, str]] = {
    ("event",): {
        "新流入": EventKind.NEW_INFLOW,
        "核实": EventKind.VERIFICATION,
        "变更": EventKind.CHANGE,
        "流出": EventKind.OUTFLOW,
    },
    ("person", "sex"): {"男": Sex.MALE, "女": Sex.FEMALE},
    ("marital_status",): {
        "未婚": MaritalStatus.UNMARRIED,
        "已婚": MaritalStatus.MARRIED,
        "离婚": MaritalStatus.DIVORCED,
        "丧偶": MaritalStatus.WIDOWED,
    },
    ("certificate", "result"): {
        "有效": CertificateResult.VALID,
        "过期": CertificateResult.EXPIRED,
        "无证": CertificateResult.MISSING,
        "缺失": CertificateResult.MISSING,
        "无效": CertificateResult.INVALID,
    },
    ("change",): {
        "婚姻": ChangeKind.MARRIAGE,
        "居住地": ChangeKind.RESIDENCE,
        "婚育证明": ChangeKind.CERTIFICATE,
        "工作单位": ChangeKind.EMPLOYER,
        "其他": ChangeKind.OTHER,
    },
    ("source_kind",): {
        "清查": SourceKind.CANVASS,
        "学校": SourceKind.SCHOOL,
        "幼儿园": SourceKind.KINDERGARTEN,
        "派出所": SourceKind.POLICE_STATION,
        "企业": SourceKind.ENTERPRISE,
        "导入": SourceKind.IMPORT,
        "抽查补登": SourceKind.SPOT_CHECK,
    },
    ("key_area",): {
        "市场": KeyAreaKind.MARKET,
        "沿街商铺": KeyAreaKind.ROADSIDE_SHOP,
        "企业": KeyAreaKind.ENTERPRISE,
        "出租屋": KeyAreaKind.RENTAL_HOUSING,
        "其他": KeyAreaKind.OTHER,
    },
}
DATE_PATHS = frozenset(
    {
        ("residence", "arrived_on"),
        ("certificate", "checked_on"),
        ("certificate", "issued_on"),
        ("certificate", "valid_until"),
    }
)


class UnknownColumns(ValueError):
    """Headers that name no field of the record: `headers` their text, `positions` their columns (1-based).

    Its message names the columns by position, never by their text: the first row of a file without a
    header row is a person's data (an identity number, a name, an address)."""

    def __init__(self, headers: list[str], positions: list[int], total: int) -> None:
        self.headers, self.positions, self.total = headers, positions, total
        listed = ", ".join(map(get_column_letter, positions[:10])) + (" and more" if len(positions) > 10 else "")
        hint = " (is the first row a header row?)" if 2 * len(positions) > total else ""
        super().__init__(f"{len(positions)} of {total} columns ({listed}) have a header that names no field{hint}")


def map_headers(headers: list[Any]) -> list[Column | None]:
    """The column each header stands for (None: ignored); UnknownColumns lists any unknown header."""
    columns: list[Column | None] = []
    unknown, positions = [], []
    for position, header in enumerate(headers, start=1):
        name = str(header).strip() if header is not None else ""
        if not name or name.lower() in IGNORED:
            columns.append(None)
        elif (column := BY_HEADER.get(name) or BY_HEADER.get(name.lower())) is not None:
            columns.append(column)
        else:
            unknown.append(name)
            positions.append(position)
    if unknown:
        raise UnknownColumns(unknown, positions, len(headers))
    return columns


# the most significant digits a spreadsheet keeps of a number (an IEEE double, as Excel and WPS show it)
DIGITS_A_SHEET_KEEPS = 15


def identity_positions(columns: list[Column | None]) -> list[int]:
    """Where the identity number's column stands (0-based), found once per file for `identity_typed_as_number`."""
    return [position for position, column in enumerate(columns) if column is not None and column.path == ID_NUMBER]


def identity_typed_as_number(positions: list[int], cells: list[Any]) -> str | None:
    """Why the row cannot be read, when its identity number is a number cell longer than a sheet keeps exactly.

    A spreadsheet keeps 15 significant digits of a number: an 18-digit identity number typed into a column
    formatted as numbers keeps its first 15 and ends in zeros, and one in eleven of those still passes the
    check character, so it would be stored as another person. A shorter number is read whole and left to the
    record's rules. The message names the column and what to do, never the cell's value.
    """
    for position in positions:
        cell = cells[position] if position < len(cells) else None
        if isinstance(cell, int | float) and not isinstance(cell, bool) and abs(cell) >= 10**DIGITS_A_SHEET_KEEPS:
            return (
                f"the identity number in column {get_column_letter(position + 1)} is stored as a number, and a "
                f"spreadsheet keeps only {DIGITS_A_SHEET_KEEPS} digits of a number: format the column as text "
                "and type the number again"
            )
    return None


def repeated_fields(columns: list[Column | None]) -> list[list[int]]:
    """The positions (0-based) of the columns that name a field another column names too (身份证号 beside
    公民身份号码, 电话 beside 联系电话), a list per field: found once per file for `disagreeing_columns`."""
    by_path: dict[tuple[str, ...], list[int]] = {}
    for position, column in enumerate(columns):
        if column is not None:
            by_path.setdefault(column.path, []).append(position)
    return [positions for positions in by_path.values() if len(positions) > 1]


def disagreeing_columns(repeated: list[list[int]], columns: list[Column | None], cells: list[Any]) -> str | None:
    """Why the row cannot be read, when two columns of one field hold different values in it.

    The record kept the last column's value, and nothing said the other was dropped: which identity number or
    phone was stored followed from the order of the columns. The same value twice (or one cell left empty) is
    one value. The message names the columns and the field, never a value."""
    for positions in repeated:
        path = cast(Column, columns[positions[0]]).path
        given = {p: v for p in positions if p < len(cells) and (v := _value(path, cells[p])) is not None}
        if len(set(given.values())) > 1:
            letters = " and ".join(get_column_letter(p + 1) for p in given)
            return f"columns {letters} both give /{'/'.join(path)}, with different values: keep one of them"
    return None


def row_to_record(columns: list[Column | None], cells: list[Any]) -> dict[str, Any]:
    """The nested record for one row; empty cells are left out."""
    record: dict[str, Any] = {}
    for column, cell in zip(columns, cells, strict=False):
        value = _value(column.path, cell) if column is not None else None
        if column is None or value is None:
            continue
        target = record
        for part in column.path[:-1]:
            target = target.setdefault(part, {})
        target[column.path[-1]] = value
    return record


def pointer_headers(columns: list[Column | None], headers: list[Any]) -> dict[str, str]:
    """JSON pointer → the header the clerk used for it, to name columns in errors."""
    return {"/" + "/".join(c.path): str(h).strip() for c, h in zip(columns, headers, strict=False) if c is not None}


def _value(path: tuple[str, ...], cell: Any) -> Any:
    if isinstance(cell, str):  # every CSV cell: first, the rest is for XLSX's typed cells
        return _text(path, cell)
    if cell is None:
        return None
    if isinstance(cell, datetime):
        return cell.date().isoformat() if path in DATE_PATHS else _with_offset(cell).isoformat()
    if isinstance(cell, date):
        return cell.isoformat()
    if isinstance(cell, time):
        return cell.isoformat()
    if isinstance(cell, bool):
        return str(cell).lower()
    if isinstance(cell, float) and cell.is_integer():
        return str(int(cell))
    return _text(path, str(cell))


def _text(path: tuple[str, ...], cell: str) -> str | None:
    text = cell.strip()
    if not text:
        return None
    words = VALUE_WORDS.get(path)
    if words is not None:
        text = words.get(text, text)
    if path in DATE_PATHS:
        # what is no date of these forms is left to the shape check, slashes read as hyphens as before
        # ("2026/01/10 00:00:00", a date cell in a date-time format, is the date 2026-01-10 there)
        return _iso_date(text) or text.replace("/", "-")
    if path == ("observed_at",):
        return _observed_text(text)
    return text


def _iso_date(text: str) -> str | None:
    """A date as Excel and WPS write it in China (2026/1/10, 2026-1-10, 2026.1.10, 2026年1月10日) in ISO form."""
    if len(text) == 10 and text[4] == text[7] == "-" and text.isascii():  # ISO already, as most cells are
        return text
    found = LOCAL_DATE.fullmatch(text.replace("年", "-").replace("月", "-").removesuffix("日"))
    if found is None:
        return None
    year, month, day = (int(part) for part in found.groups())
    try:
        return date(year, month, day).isoformat()
    except ValueError:
        return None  # 2026/2/30


def _observed_text(text: str) -> str:
    day, _, clock = text.replace("T", " ", 1).partition(" ")
    written, clock = _iso_date(day), ONE_DIGIT_HOUR.sub(r"0\1", clock.strip())  # Excel's 9:05
    try:
        parsed = datetime.fromisoformat(text if written is None else f"{written}T{clock}".removesuffix("T"))
    except ValueError:
        return text  # the shape check reports it
    return _with_offset(parsed).isoformat()


def _with_offset(moment: datetime) -> datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=CHINA)
