"""Reporting's service layer: the weekly report, its item lists and quality, from the stores.

A report is computed on request from the folded facts (aggregated SQL), so
a late event shows in its week at once, and a rebuilt store answers the same.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime, timedelta
from typing import Any

from services.reporting.adapters.campaign_store import CampaignStore
from services.reporting.adapters.items import UnknownFigure, figure_items, figure_query
from services.reporting.adapters.quality_store import QualityStore
from services.reporting.adapters.signoff_store import SignoffStore
from services.reporting.adapters.weekly_store import WeeklyStore
from services.reporting.domain.campaign import Campaign, week_of_day
from services.reporting.domain.paging import ITEMS_LIMIT, BadCursor, decode_cursor, encode_cursor
from services.reporting.domain.quality import quality_report
from services.reporting.domain.signoff import Signoff, SignoffState, as_it_stood, on_time, on_time_rate
from services.reporting.domain.weekly import StreetWeek, district_report, street_report
from services.reporting.domain.weeks import ReportWeek, WeekCalendar
from services.reporting.service_layer.errors import Invalid
from shared.clock import Clock
from shared.directory import DivisionDirectory
from shared.directory.divisions import district_of


class ReportService:
    def __init__(
        self,
        *,
        weekly: WeeklyStore,
        quality: QualityStore,
        signoffs: SignoffStore,
        campaigns: CampaignStore,
        calendar: WeekCalendar,
        directory: DivisionDirectory,
        clock: Clock,
        answer_target: timedelta,
    ) -> None:
        self.weekly_store = weekly
        self.quality_store = quality
        self.signoffs = signoffs
        self.campaigns = campaigns
        self.calendar = calendar
        self.directory = directory
        self.clock = clock
        self.answer_target = answer_target

    def as_of(self, week: ReportWeek) -> Any:
        return min(self.clock.now(), week.ends_at)

    def answers_judged_at(self, week: ReportWeek) -> datetime:
        """When "answered within target" is measured: once the target has passed for the week's last notice
        (its end plus the target), or now until then. A notice counts in the week it was issued in, so measured
        at the cut-off none would be overdue yet, and an answer days late would count as in time."""
        return min(self.clock.now(), week.ends_at + self.answer_target)

    def name(self, code: str) -> str | None:
        return self.directory.name_of(code)

    def week_days(self, week: ReportWeek) -> tuple[date, date]:
        days = [week.starts_at.date() + timedelta(days=n) for n in range(8)]
        inside = [d for d in days if week_of_day(d, self.calendar) == week.name]
        return inside[0], inside[-1]

    def bounds(self, week_name: str) -> ReportWeek:
        """The week's bounds; Invalid (at "week") for a name that is not a report week."""
        try:
            return self.calendar.bounds(week_name)
        except ValueError as error:
            raise Invalid.at("week", str(error)) from error

    async def weekly(self, code: str, week_name: str, *, at_cut_off: bool = False) -> dict[str, Any]:
        """The report of a street (9 digits) or a district (6 digits). `at_cut_off`: the week as it stood at its
        cut-off, without the records received later and with the sign-offs of then (the scheduled export,
        which writes the same whenever it runs; the API shows late records, marked as a revision)."""
        week = self.bounds(week_name)
        cut_off = week.ends_at if at_cut_off else None
        campaign = await self.campaigns.running(district_of(code), week.starts_at, week.ends_at, created_by=cut_off)
        rows, total_delay = await self.weekly_store.street_weeks(
            week,
            code,
            as_of=self.as_of(week),
            target=campaign.target if campaign else None,
            on=campaign.starts_on if campaign else week.ends_at.date(),
            received_before=cut_off,
        )
        if len(code) == 9:
            body = street_report(
                week, rows.get(code) or StreetWeek(code=code), name=self.name(code), as_of=self.as_of(week)
            )
            streets = [body]
        else:
            # every street of the district, quiet ones too (they owe their report all the same), and any
            # street with facts that the directory no longer lists
            codes = sorted({*self.directory.streets_of(code), *(street for street in rows if len(street) == 9)})
            street_rows = [rows.get(street) or StreetWeek(code=street) for street in codes]
            bureau = rows.get(code) or StreetWeek(code=code)
            names = {street: self.name(street) for street in [code, *codes]}
            body = district_report(
                week, code, street_rows, bureau, names=names, as_of=self.as_of(week), total_delay=total_delay
            )
            streets = body["streets"]
        await self._add_signoffs(week, code, streets, cut_off=cut_off)
        if len(code) == 6:
            body["on_time_rate"] = on_time_rate([s["signoff"]["on_time"] for s in streets])
        await self._add_campaign(week, code, campaign, body, streets, as_of=cut_off)
        return body

    async def _add_signoffs(
        self, week: ReportWeek, code: str, streets: list[dict[str, Any]], *, cut_off: datetime | None
    ) -> None:
        """Each street's sign-off; with `cut_off`, as it stood then."""
        known = {s.street: s for s in await self.signoffs.of(code, [week.name])}
        steps = await self.signoffs.steps_of(code, week.name) if cut_off else {}
        for street in streets:
            signoff = known.get(street["code"])
            if cut_off:
                signoff = as_it_stood(signoff, cut_off, steps.get(street["code"], ()))
            street["signoff"] = await self._signoff_view(week, signoff)

    async def _signoff_view(self, week: ReportWeek, signoff: Signoff | None) -> dict[str, Any]:
        if signoff is None:
            return {"state": "not_submitted", "on_time": False, "locked": False, "after_signoff": []}
        locked = signoff.state is SignoffState.ACCEPTED
        after = []
        if locked and signoff.reviewed_at is not None:
            after = await self.weekly_store.received_after(week, signoff.street, signoff.reviewed_at)
        return {
            "state": signoff.state.value,
            "submitted_at": signoff.first_submitted_at.isoformat(),
            "resubmitted_at": signoff.submitted_at.isoformat()
            if signoff.submitted_at != signoff.first_submitted_at
            else None,
            "on_time": on_time(signoff, week.ends_at),
            "reviewed_at": signoff.reviewed_at.isoformat() if signoff.reviewed_at else None,
            "comment": signoff.comment,
            "locked": locked,
            "after_signoff": after,
        }

    async def _add_campaign(
        self,
        week: ReportWeek,
        code: str,
        campaign: Campaign | None,
        body: dict[str, Any],
        streets: list[dict[str, Any]],
        *,
        as_of: datetime | None,
    ) -> None:
        if campaign is None:
            body["campaign"] = None
            for street in streets:
                street["campaign"] = None
            return
        first, last = self.week_days(week)
        areas = await self.campaigns.planned_and_canvassed(campaign.campaign_id, code, first, last, as_of=as_of)
        for street in streets:
            planned, canvassed = areas.get(street["code"], (0, 0))
            street["campaign"] = self._campaign_view(campaign, planned, canvassed, street)
        planned = sum(p for p, _ in areas.values())
        canvassed = sum(c for _, c in areas.values())
        body["campaign"] = self._campaign_view(campaign, planned, canvassed, body)

    @staticmethod
    def _campaign_view(campaign: Campaign, planned: int, canvassed: int, report: dict[str, Any]) -> dict[str, Any]:
        return {
            "campaign_id": campaign.campaign_id,
            "name": campaign.name,
            "planned_areas": planned,
            "canvassed_areas": canvassed,
            "target_population": report["figures"]["target_population"],
        }

    async def figure_queries(
        self, code: str, week: ReportWeek, figures: Iterable[str], *, strict: bool = True
    ) -> dict[str, Any]:
        """The item query of each figure. UnknownFigure for a name that is none of the report's, or
        the target population without a running campaign; unless `strict`, those are left out."""
        campaign = await self.campaigns.running(district_of(code), week.starts_at, week.ends_at)
        target, on = (campaign.target, campaign.starts_on) if campaign else (None, week.ends_at.date())
        queries = {}
        for figure in figures:
            try:
                queries[figure] = figure_query(figure, week, code, as_of=self.as_of(week), target=target, on=on)
            except UnknownFigure:
                if strict:
                    raise
        return queries

    async def items(
        self, code: str, week_name: str, figure: str, *, limit: int = ITEMS_LIMIT, after: str | None = None
    ) -> dict[str, Any]:
        """One page of the ids behind one figure, by id: `limit` of them after the cursor `after`, with the
        cursor of the next page (None: the last). Invalid (at "figure") for a figure that does not exist, (at
        "after") for a cursor this service did not give."""
        week = self.bounds(week_name)
        try:
            position = decode_cursor(after) if after is not None else None
        except BadCursor as error:
            raise Invalid.at("after", str(error)) from error
        try:
            query = (await self.figure_queries(code, week, [figure]))[figure]
        except UnknownFigure as error:
            raise Invalid.at("figure", str(error)) from error
        page = await figure_items(self.weekly_store.engine, figure, query, limit=limit, after=position)
        return {
            "code": code,
            "week": week.name,
            "figure": figure,
            "kind": "rejection" if figure == "rejected_at_intake" else "record",
            "count": page.total,
            "items": page.items,
            "limit": limit,
            "next": encode_cursor(page.last) if page.last is not None else None,
        }

    async def quality(self, code: str, week_name: str) -> dict[str, Any]:
        week = self.bounds(week_name)
        judged_at = self.answers_judged_at(week)
        counts = await self.quality_store.counts(week, code, as_of=judged_at, answer_target=self.answer_target)
        return {
            "code": code,
            "week": week.name,
            "answer_target_days": self.answer_target.days,
            # "answered within target" as of this time; final once the target has passed for every notice
            "answers_as_of": judged_at.isoformat(),
            "answers_final": judged_at >= week.ends_at + self.answer_target,
            "streets": [
                {"street": street, "name": self.name(street), **quality_report(counts[street])}
                for street in sorted(counts)
                if len(street) == 9
            ],
        }
