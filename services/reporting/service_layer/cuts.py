"""The weekly report and its item lists cut by community or by responsible worker (分片包干).

The same item queries as the report's counts, joined to each item's record
for its community, grouped by the register of the street or district.
"""

from __future__ import annotations

from typing import Any

from services.reporting.adapters.items import figure_counts, week_records_query
from services.reporting.domain.cuts import RECORDS, item_groups, weekly_cut
from services.reporting.domain.figures import FIGURE_NAMES
from services.reporting.domain.paging import ITEMS_LIMIT
from services.reporting.domain.responsibility import Cut
from services.reporting.service_layer.reports import ReportService
from services.reporting.service_layer.responsibility import Responsibilities


class WeeklyCuts:
    def __init__(self, reports: ReportService, responsibilities: Responsibilities) -> None:
        self._reports = reports
        self._responsibilities = responsibilities

    async def weekly(self, code: str, week_name: str, by: Cut | None) -> dict[str, Any]:
        """The weekly report; with `by`, its figures per community or worker under `cut`."""
        report = await self._reports.weekly(code, week_name)
        if by is not None:
            report["cut"] = await self.figures(code, week_name, by)
        return report

    async def figures(self, code: str, week_name: str, by: Cut) -> dict[str, Any]:
        week = self._reports.bounds(week_name)
        # without a running campaign the target population is left out: 0 in every group
        queries = await self._reports.figure_queries(code, week, FIGURE_NAMES, strict=False)
        queries[RECORDS] = week_records_query(week, code)
        counts = await figure_counts(self._reports.weekly_store.engine, queries)
        return weekly_cut(await self._responsibilities.register(code), by, counts)

    async def items(
        self,
        code: str,
        week_name: str,
        figure: str,
        by: Cut | None,
        *,
        limit: int = ITEMS_LIMIT,
        after: str | None = None,
    ) -> dict[str, Any]:
        """A page of the ids behind one figure; with `by`, the page's ids also grouped per community or worker
        under `groups`."""
        body = await self._reports.items(code, week_name, figure, limit=limit, after=after)
        if by is not None:
            register = await self._responsibilities.register(code)
            body |= {"by": by.value, "groups": item_groups(register, by, body["items"])}
        return body
