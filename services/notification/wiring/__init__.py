"""The builders of the parts notification's composition root (bootstrap.create_app) puts together.

Each builder only constructs objects from settings and the parts already
built; nothing here connects to a database, a broker or a partner. The
service's lifespan does that when the app starts.
"""
