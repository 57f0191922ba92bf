"""Routing's edges: HTTP routes, Kafka subscribers and `popflow routing` commands."""
