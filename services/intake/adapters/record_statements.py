"""The SQL that counts cases up and stores a few records at once on PostgreSQL, and the envelope splice
(`with_case`) that Python and that SQL share."""

from __future__ import annotations

import orjson

CASE_AT = b'"case_id":'  # the envelope's last two keys are payload.case_id and payload.case_version


def with_case(head: bytes, case_id: str, version: int) -> bytes:
    """The envelope whose JSON up to its case is `head`, for this case id and version.

    ONE_STATEMENT splices the same bytes in SQL (tested equal)."""
    return head + CASE_AT + orjson.dumps(case_id) + b',"case_version":' + str(int(version)).encode() + b"}}"


# A few records and their events in one statement: a round trip fewer per group commit (at low rates a
# group is one POST, and each round trip to PostgreSQL costs this process about 0.2 ms of CPU, the
# kernel's share of the loopback included). Events are numbered in list order, as separate inserts did.
RECORDS_AND_EVENTS = """
WITH new_records AS (
    INSERT INTO records (record_id, person_key, reporting_street, residence_street, record, received_at,
                         case_id, case_version, source_ref, person_sealed)
    SELECT r.record_id, r.person_key, r.reporting_street, r.residence_street, r.record::json, r.received_at,
           r.case_id, r.case_version, r.source_ref, r.person_sealed
    FROM unnest($1::varchar[], $2::varchar[], $3::varchar[], $4::varchar[], $5::text[], $6::timestamptz[],
                $7::varchar[], $8::int[], $9::varchar[], $10::text[])
        AS r(record_id, person_key, reporting_street, residence_street, record, received_at,
             case_id, case_version, source_ref, person_sealed)
)
INSERT INTO outbox (topic, key, envelope, created_at)
SELECT e.topic, e.key, e.envelope::json, e.created_at
FROM unnest($11::varchar[], $12::varchar[], $13::text[], $14::timestamptz[]) WITH ORDINALITY
    AS e(topic, key, envelope, created_at, position)
ORDER BY e.position
"""
RECORD_COLUMNS = (
    "record_id",
    "person_key",
    "reporting_street",
    "residence_street",
    "record",
    "received_at",
    "case_id",
    "case_version",
    "source_ref",
    "person_sealed",
)
EVENT_COLUMNS = ("topic", "key", "envelope", "created_at")


# Each person's case counted up by their records in the batch ($1-$3: new case ids, the person keys sorted,
# so concurrent batches lock in one order, their counts; $4: now), created at their first; the case id and
# the count after come back per person. `_next_versions` runs it alone, ONE_STATEMENT as its first part.
COUNT_CASES = """
    INSERT INTO person_cases (case_id, person_key, versions, created_at)
    SELECT c.case_id, c.person_key, c.versions, $4::timestamptz
    FROM unnest($1::varchar[], $2::varchar[], $3::int[]) WITH ORDINALITY AS c(case_id, person_key, versions, position)
    ORDER BY c.position
    ON CONFLICT (person_key) DO UPDATE SET versions = person_cases.versions + excluded.versions
    RETURNING person_key, case_id, versions
"""

# A whole batch of a few records as one statement, sent alone: `write_carefully`'s upsert of the cases, records,
# events and idempotency keys. The nth of a person's k records gets version total - k + n, as `in_turn`
# hands out; the event is its envelope's head with the case spliced in as `with_case` writes it. Events
# are numbered in batch order; records go in in the order of their source refs, as `write_carefully` inserts them
# (`_source_ref`: one lock order for every batch, however it is written), and the keys after every record,
# in the order of their text, as `write_carefully` does too. PostgreSQL runs a WITH's inserts that the main query
# does not read in an order it does not promise (keys first, on PostgreSQL 15): `new_keys` counts
# `new_records`' rows, which makes it wait for all of them.
ONE_STATEMENT = (
    "\nWITH counted AS ("  # noqa: S608 - COUNT_CASES is this module's constant
    + COUNT_CASES
    + """), numbered AS (
    SELECT r.*, c.case_id, c.versions - r.of_person + r.nth AS case_version
    FROM unnest($5::varchar[], $6::varchar[], $7::varchar[], $8::varchar[], $9::text[], $10::timestamptz[],
                $11::varchar[], $12::text[], $13::int[], $14::int[], $15::varchar[], $16::text[]) WITH ORDINALITY
        AS r(record_id, person_key, reporting_street, residence_street, record, received_at,
             source_ref, person_sealed, nth, of_person, topic, head, position)
    JOIN counted c ON c.person_key = r.person_key
), new_records AS (
    INSERT INTO records (record_id, person_key, reporting_street, residence_street, record, received_at,
                         case_id, case_version, source_ref, person_sealed)
    SELECT n.record_id, n.person_key, n.reporting_street, n.residence_street, n.record::json, n.received_at,
           n.case_id, n.case_version, n.source_ref, n.person_sealed
    FROM numbered n
    ORDER BY n.source_ref COLLATE "C" NULLS FIRST
    RETURNING 1
), new_keys AS (
    INSERT INTO idempotency_keys (key, fingerprint, record_id, kind, created_at)
    SELECT k.key, k.fingerprint, k.record_id, k.kind, $4::timestamptz
    FROM unnest($17::varchar[], $18::varchar[], $19::varchar[], $20::varchar[])
        AS k(key, fingerprint, record_id, kind)
    WHERE (SELECT count(*) FROM new_records) >= 0  -- after every record
    ORDER BY k.key COLLATE "C", k.kind COLLATE "C"
), new_events AS (
    INSERT INTO outbox (topic, key, envelope, created_at)
    SELECT n.topic, n.person_key,
           (n.head || '"case_id":' || to_json(n.case_id)::text || ',"case_version":' || n.case_version || '}}')::json,
           $4::timestamptz
    FROM numbered n
    ORDER BY n.position
)
SELECT person_key, case_id, versions FROM counted
"""
)
