"""The facts of one fold batch, each kept once by its natural id."""

from __future__ import annotations

from dataclasses import dataclass, field

from services.reporting.domain.facts import NoticeFact, RecordFact, RejectionFact, RoutedFact


@dataclass
class FoldBatch:
    submitted: dict[str, RecordFact] = field(default_factory=dict)
    routed: dict[str, RoutedFact] = field(default_factory=dict)
    issued: dict[str, NoticeFact] = field(default_factory=dict)
    answered: dict[str, NoticeFact] = field(default_factory=dict)
    rejected: dict[str, RejectionFact] = field(default_factory=dict)

    def add_answer(self, fact: NoticeFact) -> None:
        """The first answer (by time) counts, whatever order the answers arrive in."""
        known = self.answered.get(fact.notice_id)
        if known is None or (fact.answered_at and known.answered_at and fact.answered_at < known.answered_at):
            self.answered[fact.notice_id] = fact

    def record_ids(self) -> set[str]:
        """The records whose notices may have become able to name their sender in this batch."""
        ids = {*self.submitted, *self.routed}
        ids.update(f.record_id for f in self.issued.values() if f.record_id is not None)
        return ids
