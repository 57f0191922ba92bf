"""The bureau's dashboard: server-rendered HTML (Jinja2) with an inline SVG chart, no JavaScript."""
