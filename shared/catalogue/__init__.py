"""The documents that describe PopFlow to integrators and operators.

`asyncapi.py` builds the AsyncAPI 3.0 event catalogue from the contracts in
shared/events, `flows.py` says who produces and consumes each topic,
`documents.py` holds the bodies that leave the system (the webhook notice),
and `settings_table.py` renders the settings classes as a Markdown table.
`services/cli/catalogue.py` writes them all under docs/ (`make docs`).
"""
