"""The columns of the registers an office uploads as a sheet, in the offices' own words. Pure.

Two registers: the community register (each community of the street and its
responsible worker, who is registered on the way when the line names them)
and the key-area list of a campaign (each area, its canvass day and its
worker). A line becomes the same fields the JSON routes take, so both are
checked by the same rules.
"""

from __future__ import annotations

from collections.abc import Mapping

from shared.events.record_parts import KeyAreaKind

COMMUNITY_COLUMNS = {"社区代码": "code", "社区名称": "name", "责任人工号": "staff_id", "责任人": "worker_name"}
COMMUNITY_REQUIRED = ("社区代码",)
AREA_COLUMNS = {
    "类型": "kind",
    "名称": "name",
    "地址": "address",
    "计划清查日期": "planned_on",
    "责任人工号": "staff_id",
}
AREA_REQUIRED = ("类型", "名称", "地址", "计划清查日期")
AREA_KINDS = {
    "市场": KeyAreaKind.MARKET,
    "农贸市场": KeyAreaKind.MARKET,
    "沿街商铺": KeyAreaKind.ROADSIDE_SHOP,
    "企业": KeyAreaKind.ENTERPRISE,
    "出租屋": KeyAreaKind.RENTAL_HOUSING,
    "其他": KeyAreaKind.OTHER,
}


def line_fields(cells: Mapping[str, str], columns: Mapping[str, str]) -> dict[str, str | None]:
    """A sheet line as fields: known columns only, an empty cell as absent, a kind in Chinese as its value."""
    fields: dict[str, str | None] = {field: cells.get(header) or None for header, field in columns.items()}
    kind = fields.get("kind")
    if kind in AREA_KINDS:
        fields["kind"] = AREA_KINDS[kind].value
    return fields
