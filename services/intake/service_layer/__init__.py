"""Intake's use cases: submitting records and reading them back; no HTTP or Kafka types."""
