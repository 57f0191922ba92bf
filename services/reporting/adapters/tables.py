"""Reporting's own store, as SQLAlchemy Core tables.

Two kinds of table: projections folded from the topics (records, notices,
rejections), which `popflow reporting rebuild` can recreate from Kafka, and
the bureau's own decisions (sign-offs, spot checks, campaigns), which exist
nowhere else and are copied, never rebuilt.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from shared.db.engine import reading

metadata = sa.MetaData()
TS = sa.DateTime(timezone=True)

records = sa.Table(
    "report_records",
    metadata,
    sa.Column("record_id", sa.String(36), primary_key=True),
    sa.Column("reporting_street", sa.String(9), nullable=False),
    sa.Column("week", sa.String(8), nullable=False),
    sa.Column("observed_at", TS, nullable=False),
    sa.Column("submitted", sa.Boolean(), nullable=False, default=False),
    sa.Column("route", sa.String(20)),
    sa.Column("received_at", TS),
    sa.Column("residence_street", sa.String(9)),
    sa.Column("event_kind", sa.String(20)),
    sa.Column("person_key", sa.String(64)),
    sa.Column("sex", sa.String(10)),
    sa.Column("birth_date", sa.Date()),
    sa.Column("marital_status", sa.String(20)),
    sa.Column("arrival_date", sa.Date()),
    sa.Column("cert_result", sa.String(10)),
    sa.Column("cert_valid_until", sa.Date()),
    sa.Column("missing_mask", sa.Integer(), nullable=False, default=0),
    sa.Column("source_kind", sa.String(30)),
    sa.Column("key_area_kind", sa.String(30)),
    sa.Column("community", sa.String(12)),  # the residence's community code, when the record names one
)

notices = sa.Table(
    "report_notices",
    metadata,
    sa.Column("notice_id", sa.String(36), primary_key=True),
    sa.Column("record_id", sa.String(36)),
    sa.Column("recipient_code", sa.String(9)),
    sa.Column("route", sa.String(20)),
    sa.Column("issued_at", TS),
    sa.Column("week", sa.String(8)),
    sa.Column("answered_at", TS),
    sa.Column("answer", sa.String(20)),
    # the street that reported the notice's record, copied from report_records by the fold
    sa.Column("sender_street", sa.String(9)),
    # the NoticeIssued's kind and whether it asks for an answer (migration 0010); None: folded before 0010
    sa.Column("kind", sa.String(20)),
    sa.Column("answer_expected", sa.Boolean()),
)

rejections = sa.Table(
    "report_rejections",
    metadata,
    sa.Column("rejection_id", sa.String(36), primary_key=True),
    sa.Column("reporting_street", sa.String(9), nullable=False),
    sa.Column("week", sa.String(8), nullable=False),
    sa.Column("rejected_at", TS, nullable=False),
    sa.Column("error_count", sa.Integer(), nullable=False),
    sa.Column("source_kind", sa.String(30)),
)

signoffs = sa.Table(
    "weekly_signoffs",
    metadata,
    sa.Column("street", sa.String(9), primary_key=True),
    sa.Column("week", sa.String(8), primary_key=True),
    sa.Column("state", sa.String(10), nullable=False),
    sa.Column("first_submitted_at", TS, nullable=False),
    sa.Column("submitted_at", TS, nullable=False),
    sa.Column("reviewed_at", TS),
    sa.Column("comment", sa.String(500), nullable=False, default=""),
)

# each step of a sign-off in order (`seq` 1, 2, ...), for the week as it stood at its cut-off (migration 0007)
signoff_steps = sa.Table(
    "weekly_signoff_steps",
    metadata,
    sa.Column("street", sa.String(9), primary_key=True),
    sa.Column("week", sa.String(8), primary_key=True),
    sa.Column("seq", sa.Integer(), primary_key=True, autoincrement=False),
    sa.Column("at", TS, nullable=False),
    sa.Column("state", sa.String(10), nullable=False),
    sa.Column("comment", sa.String(500), nullable=False),
)

spot_checks = sa.Table(
    "spot_checks",
    metadata,
    sa.Column("check_id", sa.String(36), primary_key=True),
    sa.Column("district", sa.String(6), nullable=False),
    sa.Column("seed", sa.String(64), nullable=False),
    sa.Column("size_per_street", sa.Integer(), nullable=False),
    sa.Column("week_from", sa.String(8), nullable=False),
    sa.Column("week_to", sa.String(8), nullable=False),
    sa.Column("drawn_at", TS, nullable=False),
)

spot_check_items = sa.Table(
    "spot_check_items",
    metadata,
    sa.Column("check_id", sa.String(36), primary_key=True),
    sa.Column("record_id", sa.String(36), primary_key=True),
    sa.Column("street", sa.String(9), nullable=False),
    sa.Column("result", sa.String(10)),
    sa.Column("note", sa.String(500), nullable=False, default=""),
    sa.Column("checked_at", TS),
)

campaigns = sa.Table(
    "campaigns",
    metadata,
    sa.Column("campaign_id", sa.String(36), primary_key=True),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("district", sa.String(6), nullable=False),
    sa.Column("phases", sa.JSON(), nullable=False),
    sa.Column("target", sa.JSON(), nullable=False),
    sa.Column("created_at", TS, nullable=False),
)

key_areas = sa.Table(
    "key_areas",
    metadata,
    sa.Column("area_id", sa.String(36), primary_key=True),
    sa.Column("campaign_id", sa.String(36), nullable=False),
    sa.Column("street", sa.String(9), nullable=False),
    sa.Column("kind", sa.String(20), nullable=False),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("address", sa.String(200), nullable=False),
    sa.Column("planned_on", sa.Date(), nullable=False),
    sa.Column("canvassed_on", sa.Date()),  # its latest mark's day (key_area_marks: every day, with its time)
    sa.Column("staff_id", sa.String(32)),  # the responsible worker (of the area's street); None: nobody yet
    sa.Column("listed_at", TS),  # when the area was registered; a street's first is when its list came in
)

# every day an area was marked canvassed on, in order (seq from 1): a late file reads the day it had at the cut-off
key_area_marks = sa.Table(
    "key_area_marks",
    metadata,
    sa.Column("area_id", sa.String(36), primary_key=True),
    sa.Column("seq", sa.Integer(), primary_key=True, autoincrement=False),
    sa.Column("canvassed_on", sa.Date(), nullable=False),
    sa.Column("marked_at", TS),  # None: marked before 0008 kept the time (counts as marked by any cut-off)
)

campaign_results = sa.Table(
    "campaign_results",
    metadata,
    sa.Column("campaign_id", sa.String(36), primary_key=True),
    sa.Column("street", sa.String(9), primary_key=True),
    sa.Column("decision", sa.String(10), nullable=False),
    sa.Column("comment", sa.String(500), nullable=False, default=""),
    sa.Column("decided_at", TS, nullable=False),
)

# A place check of a spot check: the place, its street, the day and the checker (no personal data).
place_checks = sa.Table(
    "place_checks",
    metadata,
    sa.Column("place_check_id", sa.String(36), primary_key=True),
    sa.Column("check_id", sa.String(36), nullable=False),
    sa.Column("street", sa.String(9), nullable=False),
    sa.Column("community", sa.String(12)),
    sa.Column("place_kind", sa.String(20), nullable=False),
    sa.Column("place_name", sa.String(200), nullable=False),
    sa.Column("place_address", sa.String(200), nullable=False, default=""),
    sa.Column("checked_on", sa.Date(), nullable=False),
    sa.Column("checker", sa.String(50), nullable=False),
    sa.Column("note", sa.String(500), nullable=False, default=""),
    # keyed hash of the place, day, checker and person keys: the same check posted again matches it
    sa.Column("fingerprint", sa.String(64), nullable=False),
    sa.Column("posted_by", sa.String(32), nullable=False),
    sa.Column("posted_at", TS, nullable=False),
)

# The persons a place check found: compared by person key, the identity number and name kept sealed.
place_check_persons = sa.Table(
    "place_check_persons",
    metadata,
    sa.Column("place_check_id", sa.String(36), primary_key=True),
    sa.Column("person_key", sa.String(64), primary_key=True),
    sa.Column("position", sa.Integer(), nullable=False),
    sa.Column("outcome", sa.String(10), nullable=False),
    # found: the person's latest record; missed: the record entered through intake (None until then)
    sa.Column("record_id", sa.String(36)),
    sa.Column("person_sealed", sa.Text(), nullable=False),
    sa.Column("entered_at", TS),
)

# The responsible workers of each street (分片包干): a worker's name is a person's name, so only
# its sealed form is kept (shared.sealing, bound to street and staff id).
workers = sa.Table(
    "responsible_workers",
    metadata,
    sa.Column("street", sa.String(9), primary_key=True),
    sa.Column("staff_id", sa.String(32), primary_key=True),
    sa.Column("name_sealed", sa.Text(), nullable=False),
    sa.Column("updated_at", TS, nullable=False),
)

communities = sa.Table(
    "communities",
    metadata,
    sa.Column("code", sa.String(12), primary_key=True),
    sa.Column("street", sa.String(9), nullable=False),
    sa.Column("name", sa.String(100)),  # the community's (a place's) name
    sa.Column("staff_id", sa.String(32)),  # its responsible worker, of the same street; None: nobody yet
    sa.Column("updated_at", TS, nullable=False),
)

# The scheduled export's record: a row per week and served district once its files are all in place
# (services/reporting/service_layer/scheduled.py). Neither a fact nor a decision: a rebuilt store starts
# without it, and the export then writes the last closed week once more, with the same figures.
weekly_exports = sa.Table(
    "weekly_exports",
    metadata,
    sa.Column("week", sa.String(8), primary_key=True),
    sa.Column("district", sa.String(6), primary_key=True),
    sa.Column("files", sa.Integer(), nullable=False),
    sa.Column("written_at", TS, nullable=False),
)

DECISIONS = (
    signoffs,
    signoff_steps,
    spot_checks,
    spot_check_items,
    campaigns,
    key_areas,
    key_area_marks,
    campaign_results,
    place_checks,
    place_check_persons,
    workers,
    communities,
)
FACTS = (records, notices, rejections)


async def holds_rows(engine: AsyncEngine) -> bool:
    """True when any fact or decision table has a row (a rebuild target must not)."""
    async with reading(engine).connect() as connection:
        for table in (*FACTS, *DECISIONS):
            if await connection.scalar(sa.select(sa.func.count()).select_from(table)):
                return True
    return False


# Who is logged in to the dashboard: the session id only as its SHA-256, so a copy of
# the table opens nothing; the CSRF token is useless without the session cookie.
dashboard_sessions = sa.Table(
    "dashboard_sessions",
    metadata,
    sa.Column("session_hash", sa.String(64), primary_key=True),
    sa.Column("key_id", sa.String(16), nullable=False),
    sa.Column("csrf_token", sa.String(64), nullable=False),
    sa.Column("created_at", TS, nullable=False),
    sa.Column("expires_at", TS, nullable=False),
    sa.Column("revoked_at", TS),
)
