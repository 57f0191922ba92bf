"""Intake's edges: HTTP routes, the Kafka subscriber and the `popflow import` command."""
