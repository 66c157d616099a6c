"""Persistence: models, engine/session setup, migrations and the queries the app shares."""
