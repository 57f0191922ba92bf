"""NoticeIssued for tests and benchmarks, valid before and after the contract gained `kind` (v2)
and `answer_expected` (v3)."""

from __future__ import annotations

from typing import Any

from shared.events import NoticeIssued


def issued_notice(*, kind: str = "transfer", **fields: Any) -> NoticeIssued:
    """A NoticeIssued; `kind` is set only when the contract has that field."""
    if "kind" in NoticeIssued.model_fields:
        fields["kind"] = kind
    if "answer_expected" in NoticeIssued.model_fields:
        fields.setdefault("answer_expected", kind in ("transfer", "forward"))
    return NoticeIssued(**fields)
