"""Intake's HTTP edge, one module per resource; each route parses, calls, answers."""
