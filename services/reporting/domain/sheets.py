"""Reports as sheets: the title lines, Chinese column headers and rows the offices work with.

The same sheet is written as XLSX and as CSV (adapters/exports.py), so the
two never disagree. A weekly sheet has one row per street, and for a
district a total row (合计) last.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from services.reporting.domain.figures import FIGURES
from services.reporting.domain.spotchecks import RESULT_LABELS

Cell = str | int | float | None


@dataclass(frozen=True, slots=True)
class Sheet:
    title: str
    lines: tuple[str, ...]
    headers: tuple[str, ...]
    rows: tuple[tuple[Cell, ...], ...]


WEEKLY_HEADERS = (
    "街道代码",
    "街道名称",
    *(label for _, label in FIGURES),
    "入库延迟中位数（小时）",
    "入库延迟90%分位（小时）",
    "报表状态",
    "截止后修订",
)
SIGNOFF_LABELS = {"not_submitted": "未上报", "submitted": "已上报", "accepted": "已审核通过", "returned": "已退回"}


def _local(moment: str, zone: Any) -> str:
    return datetime.fromisoformat(moment).astimezone(zone).strftime("%Y-%m-%d %H:%M")


def _weekly_row(report: Mapping[str, Any], code: str, name: str | None) -> tuple[Cell, ...]:
    delay, signoff = report["entry_delay"], report.get("signoff")
    revision = report["revision"]
    return (
        code,
        name or "",
        *(report["figures"][key] for key, _ in FIGURES),
        delay["median_hours"],
        delay["p90_hours"],
        SIGNOFF_LABELS.get(signoff["state"], "") if signoff else "",
        f"是（{revision['revised_at'][:16].replace('T', ' ')} UTC）" if revision["revised"] else "否",
    )


def _heading(report: Mapping[str, Any], zone: Any) -> tuple[str, str]:
    district = report["scope"] == "district"
    place = f"{'区' if district else '街道'}：{report['name'] or ''}（{report['code']}）"
    period = f"报告周：{report['week']}（{_local(report['starts_at'], zone)} 至 {_local(report['ends_at'], zone)}）"
    return place, period


def weekly_sheet(report: Mapping[str, Any], zone: Any) -> Sheet:
    """The weekly report (street or district) as a sheet titled 表二."""
    if report["scope"] == "district":
        rows = [_weekly_row(s, s["code"], s["name"]) for s in report["streets"]]
        rows.append(_weekly_row(report, report["code"], "合计"))
    else:
        rows = [_weekly_row(report, report["code"], report["name"])]
    return Sheet("流动人口个案信息周报表（表二）", _heading(report, zone), WEEKLY_HEADERS, tuple(rows))


# The weekly figures cut by community or by responsible worker (分片包干): one row per group.
CUT_TITLES = {"community": "按社区", "worker": "按责任人"}
CUT_HEADERS = {
    "community": ("社区代码", "社区名称", "责任人工号", "责任人"),
    "worker": ("责任人工号", "责任人", "所属街道", "负责社区"),
}
GROUP_LABELS = {"unassigned": "（无责任人的社区）", "no_community": "（未填社区）", "elsewhere": "（本辖区外社区）"}
NOBODY = "（无责任人）"


def _cut_place(group: Mapping[str, Any]) -> tuple[Cell, ...]:
    kind, worker = group["kind"], group.get("worker") or {}
    if kind == "community":
        return group["community"], group["name"] or "", worker.get("staff_id", ""), worker.get("name", NOBODY)
    if kind == "worker":
        return worker["staff_id"], worker["name"], worker["street"], "、".join(group["communities"])
    return GROUP_LABELS[kind], "", "", "、".join(group.get("communities", []))


def cut_sheet(report: Mapping[str, Any], zone: Any) -> Sheet:
    """The report's `cut` as a sheet: a row per community or worker, then the groups without one, 合计 last."""
    cut = report["cut"]
    rows = [(*_cut_place(g), g["records"], *(g["figures"][key] for key, _ in FIGURES)) for g in cut["groups"]]
    rows.append(("合计", "", "", "", report["records"], *(report["figures"][key] for key, _ in FIGURES)))
    unassigned = f"无责任人的社区：{'、'.join(cut['unassigned_communities']) or '无'}"
    headers = (*CUT_HEADERS[cut["by"]], "记录数", *(label for _, label in FIGURES))
    title = f"流动人口个案信息周报表（表二）{CUT_TITLES[cut['by']]}"
    return Sheet(title, (*_heading(report, zone), unassigned), headers, tuple(rows))


SPOTCHECK_HEADERS = ("序号", "街道代码", "街道名称", "个案编号", "核查结果", "备注", "核查时间")


def spotcheck_sheet(
    header: Mapping[str, Any], items: Sequence[Mapping[str, Any]], names: Mapping[str, str | None]
) -> Sheet:
    rows = tuple(
        (
            number,
            item["street"],
            names.get(item["street"]) or "",
            item["record_id"],
            RESULT_LABELS.get(item["result"] or "", "未核查"),
            item["note"],
            item["checked_at"] or "",
        )
        for number, item in enumerate(items, start=1)
    )
    lines = (
        f"区：{names.get(header['district']) or ''}（{header['district']}）",
        f"抽查范围：{header['week_from']} 至 {header['week_to']}；"
        f"每街道 {header['size_per_street']} 例；随机种子 {header['seed']}",
    )
    return Sheet("流动人口个案抽查名单", lines, SPOTCHECK_HEADERS, rows)
