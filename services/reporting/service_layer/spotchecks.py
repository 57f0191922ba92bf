"""Spot checks: draw a reproducible sample, record what the field found, rank the streets."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

from services.reporting.adapters.placecheck_store import PlaceCheckStore
from services.reporting.adapters.spotcheck_store import SpotCheckStore
from services.reporting.domain.sheets import Sheet, spotcheck_sheet
from services.reporting.domain.spotchecks import discrepancies, draw_street
from services.reporting.service_layer.errors import Invalid, NotFound
from services.reporting.service_layer.reports import ReportService

SpotCheck = tuple[dict[str, Any], list[dict[str, Any]]]  # (header, items)

MAX_SPAN_WEEKS = 53  # a year of report weeks, whichever year
MAX_SPAN = timedelta(weeks=MAX_SPAN_WEEKS, hours=1)  # an hour over, for a zone whose clocks change in the span


async def drawn(
    store: SpotCheckStore, district: str, weeks: tuple[str, str], *, seed: str, size_per_street: int
) -> dict[str, list[str]]:
    """A spot check's sample over the weeks (first, last), each street drawn as the store streams its candidates,
    in the order of the codes whatever the database's collation."""
    sample = {
        street: draw_street(street, ids, seed=seed, size_per_street=size_per_street)
        async for street, ids in store.candidates(district, *weeks)
    }
    return dict(sorted(sample.items()))


class SpotChecks:
    def __init__(
        self, reports: ReportService, store: SpotCheckStore, places: PlaceCheckStore, *, threshold: float
    ) -> None:
        self._reports = reports
        self._store = store
        self._places = places
        self.threshold = threshold

    async def draw(self, request: dict[str, Any]) -> dict[str, Any]:
        """`request`: district, seed, size_per_street, week_from, week_to; each a report week that exists (the
        weeks are compared as names, so `2027-W60` would silently stand for every week of 2027 after the first)."""
        weeks, errors = {}, []
        for name in ("week_from", "week_to"):
            try:
                weeks[name] = self._reports.bounds(request[name])
            except Invalid as error:
                errors.append((name, error.detail))
        if errors:
            raise Invalid(errors)
        if request["week_from"] > request["week_to"]:
            raise Invalid.at("week_to", "must not come before week_from")
        if weeks["week_to"].ends_at - weeks["week_from"].starts_at > MAX_SPAN:
            # the draw reads every case of the district in the span: a year of a district is the most asked for
            raise Invalid.at("week_to", f"a spot check covers at most {MAX_SPAN_WEEKS} report weeks")
        sample = await drawn(
            self._store,
            request["district"],
            (request["week_from"], request["week_to"]),
            seed=request["seed"],
            size_per_street=request["size_per_street"],
        )
        header = {**request, "check_id": str(uuid.uuid4()), "drawn_at": self._reports.clock.now()}
        await self._store.create(header, sample)
        return {"check_id": header["check_id"], "sample": sample}

    async def get(self, check_id: str) -> SpotCheck:
        found = await self._store.get(check_id)
        if found is None:
            raise NotFound("No spot check with this id.")
        return found

    async def latest(self, district: str) -> SpotCheck | None:
        check_id = await self._store.latest_check(district)
        return await self._store.get(check_id) if check_id else None

    def sheet(self, check: SpotCheck) -> Sheet:
        header, items = check
        names = {code: self._reports.name(code) for code in {header["district"], *(i["street"] for i in items)}}
        return spotcheck_sheet(header, items, names)

    async def record_result(self, check_id: str, record_id: str, result: str, note: str) -> None:
        if not await self._store.record_result(check_id, record_id, result, note, self._reports.clock.now()):
            raise Invalid.at("record_id", "this case is not in the sample")

    async def ranking(self, check: SpotCheck, street: str | None = None) -> list[dict[str, Any]]:
        """Streets by discrepancy rate (sampled cases and place checks), flagged above the threshold, with
        their names; only `street`'s row when given."""
        header, items = check
        results: dict[str, list[str | None]] = {}
        for item in items:
            results.setdefault(item["street"], []).append(item["result"])
        places = await self._places.tallies(header["check_id"])
        fields = (
            "street",
            "sampled",
            "checked",
            "wrong",
            "not_found",
            "places",
            "persons",
            "missed",
            "rate",
            "flagged",
        )
        return [
            {**{name: getattr(row, name) for name in fields}, "name": self._reports.name(row.street)}
            for row in discrepancies(results, threshold=self.threshold, places=places)
            if street is None or row.street == street
        ]
