"""Complete reporting: record facts, notices, rejections, sign-offs, spot checks, campaigns.

Revision ID: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    with op.batch_alter_table("report_records") as batch:
        batch.add_column(sa.Column("received_at", TS, nullable=True))
        batch.add_column(sa.Column("residence_street", sa.String(9), nullable=True))
        batch.add_column(sa.Column("event_kind", sa.String(20), nullable=True))
        batch.add_column(sa.Column("person_key", sa.String(64), nullable=True))
        batch.add_column(sa.Column("sex", sa.String(10), nullable=True))
        batch.add_column(sa.Column("birth_date", sa.Date(), nullable=True))
        batch.add_column(sa.Column("marital_status", sa.String(20), nullable=True))
        batch.add_column(sa.Column("arrival_date", sa.Date(), nullable=True))
        batch.add_column(sa.Column("cert_result", sa.String(10), nullable=True))
        batch.add_column(sa.Column("cert_valid_until", sa.Date(), nullable=True))
        batch.add_column(sa.Column("missing_mask", sa.Integer(), nullable=False, server_default="0"))
        batch.add_column(sa.Column("source_kind", sa.String(30), nullable=True))
        batch.add_column(sa.Column("key_area_kind", sa.String(30), nullable=True))
    # Reports filter on the week first, then the street prefix; (week, street) serves both
    # the street and the district, and one index fewer speeds up the fold.
    op.drop_index("ix_report_records_street_week", "report_records")
    op.create_index("ix_report_records_week_street", "report_records", ["week", "reporting_street"])
    op.create_index("ix_report_records_person", "report_records", ["person_key"])

    op.create_table(
        "report_notices",
        sa.Column("notice_id", sa.String(36), primary_key=True),
        sa.Column("record_id", sa.String(36), nullable=True),
        sa.Column("recipient_code", sa.String(9), nullable=True),
        sa.Column("route", sa.String(20), nullable=True),
        sa.Column("issued_at", TS, nullable=True),
        sa.Column("week", sa.String(8), nullable=True),
        sa.Column("answered_at", TS, nullable=True),
        sa.Column("answer", sa.String(20), nullable=True),
        sa.Column("sender_street", sa.String(9), nullable=True),
    )
    op.create_index("ix_report_notices_week", "report_notices", ["week", "sender_street"])
    # notices whose record (hence sender) is not folded yet: the fold fills them in
    op.create_index(
        "ix_report_notices_no_sender",
        "report_notices",
        ["record_id"],
        postgresql_where=sa.text("sender_street IS NULL"),
        sqlite_where=sa.text("sender_street IS NULL"),
    )
    op.create_index("ix_report_notices_recipient", "report_notices", ["recipient_code", "issued_at"])
    op.create_index("ix_report_notices_record", "report_notices", ["record_id"])

    op.create_table(
        "report_rejections",
        sa.Column("rejection_id", sa.String(36), primary_key=True),
        sa.Column("reporting_street", sa.String(9), nullable=False),
        sa.Column("week", sa.String(8), nullable=False),
        sa.Column("rejected_at", TS, nullable=False),
        sa.Column("error_count", sa.Integer(), nullable=False),
        sa.Column("source_kind", sa.String(30), nullable=True),
    )
    op.create_index("ix_report_rejections_week", "report_rejections", ["week", "reporting_street"])

    op.create_table(
        "weekly_signoffs",
        sa.Column("street", sa.String(9), primary_key=True),
        sa.Column("week", sa.String(8), primary_key=True),
        sa.Column("state", sa.String(10), nullable=False),
        sa.Column("first_submitted_at", TS, nullable=False),
        sa.Column("submitted_at", TS, nullable=False),
        sa.Column("reviewed_at", TS, nullable=True),
        sa.Column("comment", sa.String(500), nullable=False, server_default=""),
    )
    op.create_table(
        "spot_checks",
        sa.Column("check_id", sa.String(36), primary_key=True),
        sa.Column("district", sa.String(6), nullable=False),
        sa.Column("seed", sa.String(64), nullable=False),
        sa.Column("size_per_street", sa.Integer(), nullable=False),
        sa.Column("week_from", sa.String(8), nullable=False),
        sa.Column("week_to", sa.String(8), nullable=False),
        sa.Column("drawn_at", TS, nullable=False),
    )
    op.create_table(
        "spot_check_items",
        sa.Column("check_id", sa.String(36), primary_key=True),
        sa.Column("record_id", sa.String(36), primary_key=True),
        sa.Column("street", sa.String(9), nullable=False),
        sa.Column("result", sa.String(10), nullable=True),
        sa.Column("note", sa.String(500), nullable=False, server_default=""),
        sa.Column("checked_at", TS, nullable=True),
    )
    op.create_table(
        "campaigns",
        sa.Column("campaign_id", sa.String(36), primary_key=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("district", sa.String(6), nullable=False),
        sa.Column("phases", sa.JSON(), nullable=False),
        sa.Column("target", sa.JSON(), nullable=False),
        sa.Column("created_at", TS, nullable=False),
    )
    op.create_table(
        "key_areas",
        sa.Column("area_id", sa.String(36), primary_key=True),
        sa.Column("campaign_id", sa.String(36), nullable=False),
        sa.Column("street", sa.String(9), nullable=False),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("address", sa.String(200), nullable=False),
        sa.Column("planned_on", sa.Date(), nullable=False),
        sa.Column("canvassed_on", sa.Date(), nullable=True),
    )
    op.create_index("ix_key_areas_campaign_street", "key_areas", ["campaign_id", "street"])
    op.create_table(
        "campaign_results",
        sa.Column("campaign_id", sa.String(36), primary_key=True),
        sa.Column("street", sa.String(9), primary_key=True),
        sa.Column("decision", sa.String(10), nullable=False),
        sa.Column("comment", sa.String(500), nullable=False, server_default=""),
        sa.Column("decided_at", TS, nullable=False),
    )


def downgrade() -> None:
    for table in (
        "campaign_results",
        "key_areas",
        "campaigns",
        "spot_check_items",
        "spot_checks",
        "weekly_signoffs",
        "report_rejections",
        "report_notices",
    ):
        op.drop_table(table)
    op.drop_index("ix_report_records_person", "report_records")
    op.drop_index("ix_report_records_week_street", "report_records")
    op.create_index("ix_report_records_street_week", "report_records", ["reporting_street", "week"])
    with op.batch_alter_table("report_records") as batch:
        for column in (
            "key_area_kind",
            "source_kind",
            "missing_mask",
            "cert_valid_until",
            "cert_result",
            "arrival_date",
            "marital_status",
            "birth_date",
            "sex",
            "person_key",
            "event_kind",
            "residence_street",
            "received_at",
        ):
            batch.drop_column(column)
