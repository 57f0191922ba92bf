"""Place checks: compare the persons found at a place with the records PopFlow holds, enter the missed.

A check is stored with every person's outcome before anything is entered, so
the outcome is decided once: posting the same check again (same id, place,
day, checker and persons) finds it stored and only enters the missed persons
intake has not taken yet. Their records go through intake like any other
(source kind `spot_check`), under the caller's own key.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from services.reporting.adapters.intake_client import Entry, IntakeUnavailable, RecordEntry
from services.reporting.adapters.placecheck_store import PlaceCheckRows, PlaceCheckStore
from services.reporting.adapters.report_filters import utc
from services.reporting.domain.placechecks import (
    Finding,
    Outcome,
    compare,
    external_id,
    fingerprint,
    listed_twice,
    observed_moment,
)
from services.reporting.service_layer.errors import Conflict, Invalid, NotFound, Unavailable
from services.reporting.service_layer.reports import ReportService
from shared.directory import DivisionLevel
from shared.directory.divisions import district_of
from shared.events.record_parts import SourceKind
from shared.identity import person_key
from shared.sealing import Keyring

PLACE_FIELDS = ("street", "community", "place_kind", "place_name", "place_address", "checked_on", "checker", "note")
# What a missed person's record needs beyond the identity number and name.
RECORD_PARTS = ("residence", "registration")
# Intake's pointers into a record, as the place check's own fields where they come from it.
FROM_CHECK = {"/reporting_street": "street", "/observed_at": "checked_on"}


class PlaceChecks:
    def __init__(
        self, reports: ReportService, store: PlaceCheckStore, intake: RecordEntry, *, keyring: Keyring, secret: bytes
    ) -> None:
        self._reports = reports
        self._store = store
        self._intake = intake
        self._keyring = keyring
        self._secret = secret

    async def post(
        self, spotcheck: Mapping[str, Any], values: dict[str, Any], persons: list[dict[str, Any]], *, by: str, key: str
    ) -> tuple[dict[str, Any], bool]:
        """(the check as stored, True when this post created it). `values`: place_check_id and PLACE_FIELDS;
        `persons`: person (id_number, name, ...) and, for the missed, residence and registration."""
        self._require_place_in(spotcheck["district"], values)
        keys = [person_key(p["person"]["id_number"], self._secret) for p in persons]
        if twice := listed_twice(keys):
            raise Invalid([(f"persons/{i}/person/id_number", "is listed earlier in this check") for i in twice])
        place = {name: values.get(name) for name in PLACE_FIELDS}
        header = {**place, "place_check_id": values["place_check_id"], "check_id": spotcheck["check_id"]}
        header["fingerprint"] = fingerprint({**place, "check_id": spotcheck["check_id"]}, keys, self._secret)
        by_key = dict(zip(keys, persons, strict=True))
        stored, created = await self._store.get(header["place_check_id"]), False
        if stored is None:
            created, stored = await self._create(header, by_key, by)
        self._require_same(stored, header)
        await self._enter_missed(header, _findings(stored), by_key, key)
        return await self.get(header["place_check_id"]), created

    async def _create(
        self, header: dict[str, Any], by_key: Mapping[str, dict[str, Any]], by: str
    ) -> tuple[bool, PlaceCheckRows]:
        """Compare, then store the check with every outcome; (False, the stored one) when a twin post won."""
        findings = compare(list(by_key), await self._store.held(list(by_key)))
        self._records_for(header, findings, by_key)  # a missed person without the details: refused, nothing stored
        created = await self._store.create(self._row(header, by), self._person_rows(header, findings, by_key))
        stored = await self._store.get(header["place_check_id"])
        if stored is None:  # neither this post nor a twin stored it
            raise Unavailable("The place check could not be stored just now; post it again.")
        return created, stored

    async def get(self, place_check_id: str) -> dict[str, Any]:
        stored = await self._store.get(place_check_id)
        if stored is None:
            raise NotFound("No place check with this id.")
        return self._shown(stored)

    async def listing(self, check_id: str, code: str) -> list[dict[str, Any]]:
        """The place checks of a spot check in a street (or every street of a district), with their counts."""
        rows = await self._store.headers(check_id, code)
        return [
            {**_place(row), "found": row["persons"] - row["missed"], "missed": row["missed"], "entered": row["entered"]}
            for row in rows
        ]

    def _require_place_in(self, district: str, values: Mapping[str, Any]) -> None:
        street, community = values["street"], values.get("community")
        if district_of(street) != district or not self._reports.directory.exists(street, DivisionLevel.STREET):
            raise Invalid.at("street", "is not a street of the spot check's district")
        if community is not None and not community.startswith(street):
            raise Invalid.at("community", "must lie inside the street (its first 9 digits are the street code)")
        if values["checked_on"] > self._reports.clock.now().astimezone(self._reports.calendar.zone).date():
            raise Invalid.at("checked_on", "is after today")

    def _require_same(self, stored: PlaceCheckRows, header: Mapping[str, Any]) -> None:
        was = stored[0]
        if was["check_id"] != header["check_id"] or was["fingerprint"] != header["fingerprint"]:
            raise Conflict(
                "This place check id was already used for another check (another spot check, place, day, "
                "checker or list of persons); give a new check its own id."
            )

    def _row(self, header: dict[str, Any], by: str) -> dict[str, Any]:
        return {**header, "place_address": header["place_address"] or "", "note": header["note"] or ""} | {
            "posted_by": by,
            "posted_at": self._reports.clock.now(),
        }

    def _person_rows(
        self, header: Mapping[str, Any], findings: Sequence[Finding], by_key: Mapping[str, dict[str, Any]]
    ) -> list[dict[str, Any]]:
        rows = []
        for position, finding in enumerate(findings):
            person = by_key[finding.person_key]["person"]
            sealed = {"id_number": person["id_number"], "name": person["name"]}
            context = f"place_check:{header['place_check_id']}:{finding.person_key}"
            rows.append(
                {
                    "place_check_id": header["place_check_id"],
                    "person_key": finding.person_key,
                    "position": position,
                    "outcome": finding.outcome.value,
                    "record_id": finding.record_id,
                    "person_sealed": self._keyring.seal(sealed, context=context),
                    "entered_at": None,
                }
            )
        return rows

    async def _enter_missed(
        self, header: Mapping[str, Any], findings: Sequence[Finding], by_key: Mapping[str, dict[str, Any]], key: str
    ) -> None:
        pending = self._records_for(header, findings, by_key)
        if not pending:
            return
        try:
            entries = await self._intake.enter([record for _, record in pending], key=key)
        except IntakeUnavailable:
            raise Unavailable(
                f"The place check is stored, but {len(pending)} missed persons could not be entered as records: "
                "intake did not answer. Post the same check again to enter them."
            ) from None
        done = {person: entry.record_id for (person, _), entry in zip(pending, entries, strict=True) if entry.record_id}
        if done:
            await self._store.mark_entered(header["place_check_id"], done, self._reports.clock.now())
        positions = {k: i for i, k in enumerate(by_key)}
        refused = [(positions[p], e) for (p, _), e in zip(pending, entries, strict=True) if e.record_id is None]
        if refused:
            raise Invalid([error for position, entry in refused for error in _at_person(position, entry)])

    def _records_for(
        self, header: Mapping[str, Any], findings: Sequence[Finding], by_key: Mapping[str, dict[str, Any]]
    ) -> list[tuple[str, dict[str, Any]]]:
        """(person key, record) of every missed person not entered yet; Invalid when one lacks the details."""
        positions = {k: i for i, k in enumerate(by_key)}
        pending = [f.person_key for f in findings if f.outcome is Outcome.MISSED and f.record_id is None]
        lacking = [
            (f"persons/{positions[k]}/{part}", "is required: PopFlow holds no current record of this person")
            for k in pending
            for part in RECORD_PARTS
            if part not in by_key[k]
        ]
        if lacking:
            raise Invalid(lacking)
        return [(k, self._record(header, k, by_key[k])) for k in pending]

    def _record(self, header: Mapping[str, Any], key: str, found: Mapping[str, Any]) -> dict[str, Any]:
        observed = observed_moment(header["checked_on"], self._reports.calendar.zone, self._reports.clock.now())
        return {
            **{name: value for name, value in found.items() if name != "person"},
            "event": "new_inflow",
            "person": found["person"],
            "reporting_street": header["street"],
            "observed_at": observed.isoformat(),
            "source_kind": SourceKind.SPOT_CHECK.value,
            "external_id": external_id(header["place_check_id"], key),
        }

    def _shown(self, stored: PlaceCheckRows) -> dict[str, Any]:
        """The check without personal data: each person's outcome and record, by position in the list."""
        header, persons = stored
        shown = [
            {
                "position": p["position"],
                "outcome": p["outcome"],
                "record_id": p["record_id"],
                "entered": p["outcome"] == Outcome.MISSED and p["record_id"] is not None,
            }
            for p in persons
        ]
        missed = sum(p["outcome"] == Outcome.MISSED for p in shown)
        entered = sum(p["entered"] for p in shown)
        place = _place(header) | {"street_name": self._reports.name(header["street"])}
        return place | {"found": len(shown) - missed, "missed": missed, "entered": entered, "persons": shown}


def _findings(stored: PlaceCheckRows) -> list[Finding]:
    return [Finding(p["person_key"], Outcome(p["outcome"]), p["record_id"]) for p in stored[1]]


def _place(row: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "place_check_id": row["place_check_id"],
        "check_id": row["check_id"],
        "street": row["street"],
        "community": row["community"],
        "place": {"kind": row["place_kind"], "name": row["place_name"], "address": row["place_address"]},
        "checked_on": row["checked_on"].isoformat(),
        "checker": row["checker"],
        "note": row["note"],
        "posted_at": utc(row["posted_at"]).isoformat(),
    }


def _at_person(position: int, entry: Entry) -> list[tuple[str, str]]:
    """Intake's field errors of one record, pointed at the person's place in the check."""
    errors = []
    for error in entry.errors or [{"pointer": "", "detail": "intake refused this person's record"}]:
        pointer = error["pointer"]
        where = FROM_CHECK.get(pointer) or f"persons/{position}{pointer if pointer.startswith('/') else ''}"
        errors.append((where, error["detail"]))
    return errors
