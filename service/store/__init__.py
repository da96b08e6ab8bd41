"""Durable storage of verified webhook events: SQLite (embedded) or Redis Streams."""
