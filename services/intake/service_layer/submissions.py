"""Turning submitted bodies into stored records: validate, check scope, seal, store.

Used by the single-record route and by the bulk import alike, so a row of a
spreadsheet and a POSTed record meet exactly the same rules.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal
from zoneinfo import ZoneInfo

import orjson

from services.intake.adapters.batch_items import NewRecord, Stored
from services.intake.adapters.record_statements import CASE_AT, with_case
from services.intake.adapters.repository import RecordRepository
from services.intake.adapters.sealed import seal_record
from services.intake.adapters.tables import KeyKind
from services.intake.domain.codes import division_warnings
from services.intake.domain.fields import FieldProblem
from services.intake.domain.successors import StreetSuccessors
from services.intake.domain.validation import validate_record
from shared.auth import Action, Principal
from shared.db.group_commit import GroupCommit
from shared.digits import ascii_digits
from shared.directory import DivisionChanges, DivisionDirectory
from shared.events import CaseRecord, RecordRejected, RecordSubmitted, envelope_json
from shared.events.envelope import json_time, payload_envelope_json
from shared.events.record_parts import SourceKind
from shared.identity import person_key
from shared.ids import new_id
from shared.sealing import Keyring

Clock = Callable[[], datetime]
OUT_OF_SCOPE = "your API key may not report records for this street"
REJECTION_NAMESPACE = uuid.UUID("2b7c1f64-3e0a-4d8e-9a51-6c4f0e8d7b23")


@dataclass(frozen=True, slots=True)
class Prepared:
    new: NewRecord
    record: CaseRecord
    # retired division codes the record names: accepted, mapped by routing (field, code, note)
    warnings: tuple[dict[str, str], ...] = ()
    # the record as JSON, person in clear: the event is built from it rather than dumped again
    record_json: dict[str, Any] | None = None


@dataclass(frozen=True, slots=True)
class Rejected:
    problems: list[FieldProblem]
    out_of_scope: bool = False
    # for the RecordRejected count: nothing personal, only where it came from
    reporting_street: str = ""
    source_kind: str | None = None
    fingerprint: str = ""


@dataclass(slots=True)
class Outcome:
    status: Literal["accepted", "duplicate", "conflict"]
    record_id: str
    case_id: str | None
    case_version: int

    def answer(self, caller: Principal) -> dict[str, Any]:
        """What the integrator is told: the same for the first request and its repeats.

        The case's id and version only to a caller who may read records. To a key that may only submit
        (a field app, a department's import) they would tell whether anyone had reported this person
        before, and how often: a question a key that may read nothing must not be able to ask."""
        answer: dict[str, Any] = {"record_id": self.record_id}
        if caller.may(Action.READ):
            answer.update(case_id=self.case_id, case_version=self.case_version)
        answer["status"] = "accepted"  # last, after the case's keys: answers keep their key order
        return answer


class Submissions:
    def __init__(
        self,
        repository: RecordRepository,
        directory: DivisionDirectory,
        keyring: Keyring,
        person_secret: bytes,
        clock: Clock = lambda: datetime.now(UTC),
        on_stored: Callable[[], None] = lambda: None,
        changes: DivisionChanges | None = None,
        *,
        zone: ZoneInfo,
    ) -> None:
        """`zone` is where the deployment's days are (POPFLOW_TIMEZONE): a date checked "today" is today there."""
        self._changes = changes
        self._successors = StreetSuccessors.of(changes)
        self._zone = zone
        self._on_stored = on_stored
        self._repository = repository
        self._directory = directory
        self._keyring = keyring
        self._person_secret = person_secret
        self._clock = clock
        # concurrent single POSTs share transactions; an idempotency key or source ref never twice in one
        self._single: GroupCommit[Prepared, Outcome] = GroupCommit(
            self.store, exclusive=lambda p: p.new.idempotency_key or p.new.source_ref
        )

    def prepare(
        self,
        raw: Any,
        principal: Principal,
        *,
        idempotency_key: str | None = None,
        key_kind: KeyKind = KeyKind.REQUEST,
    ) -> Prepared | Rejected:
        """A record ready to store, or why it cannot be: field problems, or a street outside the key's scope.

        `key_kind` says whose key `idempotency_key` is: a single POST's, or a bulk row's (`KEY#row`)."""
        street = _street_of(raw)
        if street and not principal.may(Action.SUBMIT, self._successors.answering(street)):
            # before validation too, so a wrong record is never counted against another street
            return _out_of_scope()
        now = self._clock()
        record, problems = validate_record(raw, self._directory, now=now, zone=self._zone, changes=self._changes)
        if record is None:
            return Rejected(problems, reporting_street=street, source_kind=_kind_of(raw), fingerprint=fingerprint(raw))
        # a retired reporting street is its successor's: the successor's key may report for it
        if not principal.may(Action.SUBMIT, self._successors.answering(record.reporting_street)):
            # the decisive check: on the validated, trimmed street (" 440111008" is 440111008 by now)
            return _out_of_scope()
        warnings = tuple(division_warnings(raw, self._changes)) if self._changes else ()
        record_json = record.model_dump(mode="json")
        new = self._new_record(raw, record, record_json, now, principal, idempotency_key, key_kind)
        return Prepared(new, record, warnings, record_json)

    async def store_one(self, prepared: Prepared) -> Outcome:
        """Store one record, in a transaction shared with the records submitted at the same moment."""
        return await self._single.submit(prepared)

    async def store(self, batch: Sequence[Prepared]) -> list[Outcome]:
        """Store a batch in one transaction; one outcome per item, in order."""
        records = {p.new.record_id: p.record_json or p.record.model_dump(mode="json") for p in batch}

        def event_for(item: NewRecord, case_id: str, version: int) -> tuple[str, dict[str, Any]]:
            # the person and addresses are sealed in the envelope itself, for the outbox and Kafka alike
            envelope = submitted_envelope(item, records[item.record_id], case_id, version, self._keyring)
            return RecordSubmitted.TOPIC, envelope

        def head_for(item: NewRecord) -> tuple[str, bytes]:
            return RecordSubmitted.TOPIC, _head(
                submitted_envelope(item, records[item.record_id], _PENDING_CASE, 0, self._keyring)
            )

        stored = await self._repository.write_batch([p.new for p in batch], event_for, head_for)
        self._on_stored()  # e.g. wake the outbox relay
        return [_outcome(s) for s in stored]

    def ready(self, prepared: Prepared) -> Ready:
        """The prepared record with its RecordSubmitted envelope built, but for the case id and version."""
        record_json = prepared.record_json or prepared.record.model_dump(mode="json")
        head = _head(submitted_envelope(prepared.new, record_json, _PENDING_CASE, 0, self._keyring))
        return Ready(prepared.new, head, prepared.warnings)

    async def store_ready(self, batch: Sequence[Ready], *, outage_s: float = 0.0) -> list[Outcome]:
        """`store` for rows whose envelope was built already (by a bulk worker process): only the case is filled in.

        With `outage_s`, a store that cannot be reached is waited for that long (a bulk import's 200 has gone)."""
        ready = {r.new.record_id: r for r in batch}

        def event_for(item: NewRecord, case_id: str, version: int) -> tuple[str, orjson.Fragment]:
            return RecordSubmitted.TOPIC, ready[item.record_id].envelope(case_id, version)

        def head_for(item: NewRecord) -> tuple[str, bytes]:
            return RecordSubmitted.TOPIC, ready[item.record_id].envelope_head

        stored = await self._repository.write_batch([r.new for r in batch], event_for, head_for, outage_s=outage_s)
        self._on_stored()
        return [_outcome(s) for s in stored]

    async def note_rejections(self, rejections: Sequence[Rejected], *, outage_s: float = 0.0) -> None:
        """One RecordRejected per rejected submission, for the weekly report's count.

        The event id follows from the body, so the same wrong record sent again
        is recognisably the same rejection and is counted once.
        """
        now, events = self._clock(), []
        for rejected in rejections:
            if rejected.out_of_scope or not rejected.problems:
                continue
            event = RecordRejected(
                reporting_street=rejected.reporting_street,
                rejected_at=now,
                error_count=len(rejected.problems),
                source_kind=rejected.source_kind,
            )
            event_id = uuid.uuid5(REJECTION_NAMESPACE, rejected.fingerprint or str(uuid.uuid4()))
            envelope = envelope_json(event, producer="intake", correlation_id=f"rejected:{event_id}", event_id=event_id)
            events.append((RecordRejected.TOPIC, rejected.reporting_street or "unknown", envelope))
        if events:
            await self._repository.add_events(events, outage_s=outage_s)
            self._on_stored()

    def _new_record(
        self,
        raw: Any,
        record: CaseRecord,
        record_json: dict[str, Any],
        now: datetime,
        principal: Principal,
        idempotency_key: str | None,
        key_kind: KeyKind,
    ) -> NewRecord:
        record_id = new_id()
        # the person apart; its addresses and employer sealed in place (adapters/sealed.py)
        body = seal_record(
            {key: value for key, value in record_json.items() if key != "person"}, record_id, self._keyring
        )
        person = record_json["person"]
        source_ref = None
        if record.external_id:
            source_ref = f"{record.reporting_street}:{record.source_kind or 'unknown'}:{record.external_id}"
        return NewRecord(
            record_id=record_id,
            person_key=person_key(record.person.id_number, self._person_secret),
            reporting_street=record.reporting_street,
            residence_street=record.residence.street,
            record=body,
            person_sealed=self._keyring.seal(person, context=record_id),
            received_at=now,
            source_ref=source_ref,
            idempotency_key=f"{principal.key_id}:{idempotency_key}" if idempotency_key else None,
            fingerprint=fingerprint(raw) if idempotency_key else None,
            key_kind=key_kind,
        )


def submitted_envelope(
    item: NewRecord, record_json: dict[str, Any], case_id: str, version: int, keyring: Keyring
) -> dict[str, Any]:
    """`envelope_json(RecordSubmitted(...))` from the record's JSON: the event is neither built nor dumped.

    A bulk row's record was validated and dumped once already; building the
    event dumped it a second time. The same envelope, key for key (tested).
    """
    payload = {
        "record_id": item.record_id,
        "received_at": json_time(item.received_at),
        "record": record_json,
        "case_id": case_id,
        "case_version": version,
    }
    # the submission happened when the record was received: one time written for both
    return payload_envelope_json(
        RecordSubmitted,
        payload,
        producer="intake",
        correlation_id=item.record_id,
        occurred_at=item.received_at,
        keyring=keyring,
    )


_PENDING_CASE = "\x00"  # stands for the case id until the batch is stored


def _head(envelope: dict[str, Any]) -> bytes:
    """The envelope's JSON up to its case id and version, which only the store knows (see `with_case`)."""
    written = orjson.dumps(envelope)
    return written[: written.rindex(CASE_AT)]


@dataclass(frozen=True, slots=True)
class Ready:
    """A record prepared with its RecordSubmitted envelope as JSON, up to the case id and version only
    the store knows: what a bulk worker process hands back (small to send, nothing left to seal)."""

    new: NewRecord
    envelope_head: bytes
    # retired division codes the record names, as a single POST's answer gives them (nearly always none)
    warnings: tuple[dict[str, str], ...] = ()

    def __reduce__(self) -> tuple[type[Ready], tuple[NewRecord, bytes, tuple[dict[str, str], ...]]]:
        return Ready, (self.new, self.envelope_head, self.warnings)  # as NewRecord's: not field by field in Python

    def envelope(self, case_id: str, version: int) -> orjson.Fragment:
        """`submitted_envelope(...)` as orjson writes it, for this case id and version."""
        return orjson.Fragment(with_case(self.envelope_head, case_id, version))


SOURCE_KINDS = frozenset(kind.value for kind in SourceKind)


def _street_of(raw: Any) -> str:
    """The reporting street as the record model will read it (trimmed), or "" when it is no street code."""
    street = raw.get("reporting_street") if isinstance(raw, dict) else None
    street = street.strip() if isinstance(street, str) else ""
    return street if ascii_digits(street, 9) else ""


def _kind_of(raw: Any) -> str | None:
    """The source kind of a rejected record for the report's count, when it is one (never the raw text:
    it may hold anything, a NUL or half of a character, that no event or table can carry)."""
    kind = raw.get("source_kind") if isinstance(raw, dict) else None
    kind = kind.strip() if isinstance(kind, str) else None
    return kind if kind in SOURCE_KINDS else None


def _out_of_scope() -> Rejected:
    return Rejected([(("reporting_street",), OUT_OF_SCOPE)], out_of_scope=True)


def fingerprint(raw: Any) -> str:
    """A stable hash of a body: the same record sent twice hashes the same.

    Stored with idempotency keys, so its bytes never change: the sorted, compact `json.dumps` of the body.
    orjson writes those very bytes, ten times faster, for a body of text, whole numbers, booleans and
    nulls (every CSV row, nearly every POST); anything else (a float, which orjson writes otherwise, a
    lone half of a UTF-16 pair, which it refuses) takes `json.dumps` itself."""
    if _plain(raw):
        try:
            return hashlib.sha256(orjson.dumps(raw, option=orjson.OPT_SORT_KEYS)).hexdigest()
        except orjson.JSONEncodeError:
            pass  # a lone surrogate, or a whole number past 64 bits
    canonical = json.dumps(raw, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str)
    # surrogatepass: the same bytes as UTF-8 for all text, and a lone half of a UTF-16 pair (which JSON may
    # escape, and the rules reject) hashed rather than raised on
    return hashlib.sha256(canonical.encode("utf-8", "surrogatepass")).hexdigest()


_LEAVES = frozenset((str, int, bool, type(None)))


def _plain(value: Any) -> bool:
    """Whether `value` holds only objects with text keys, arrays, text, whole numbers, booleans and nulls
    (exactly these types: a subclass may write otherwise)."""
    kind = type(value)
    if kind is dict:
        for key, item in value.items():
            if type(key) is not str:
                return False
            if type(item) is not str and not _plain(item):  # text, nearly every value, without a call
                return False
        return True
    if kind is list:
        return all(type(item) is str or _plain(item) for item in value)
    return kind in _LEAVES


def _outcome(stored: Stored) -> Outcome:
    return Outcome(stored.status, stored.record_id, stored.case_id, stored.case_version)
