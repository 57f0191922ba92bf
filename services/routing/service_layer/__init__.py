"""Routing's use cases: a record, an answer, the reminder job, each one unit of work."""
