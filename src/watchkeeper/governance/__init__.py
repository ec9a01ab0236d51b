"""Accountability: protected-attribute policy, roles and tokens, audit log, approvals, retention.

Every module works on a plain ``sqlite3.Connection`` that the caller owns: each creates its own
tables with ``ensure_schema(conn)`` and never commits, so an audit record and the change it
records commit or roll back together.
"""
