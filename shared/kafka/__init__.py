"""Kafka plumbing shared by the services: broker, topics, publishing, failure policy."""
