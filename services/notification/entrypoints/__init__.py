"""Notification's edges: HTTP routes, the Kafka subscriber, the `popflow receiver` command."""
