"""contactdesk: the LiveDesk and Chatwoot Contacts API on SQLite and PostgreSQL."""

__version__ = "0.1.0"
