"""Backups of a whole installation: database and document store in one checked archive.

backup.py makes them, verify.py checks one by restoring it into a scratch database,
restore.py puts one back, schedule.py is the scheduler's job, archive.py the format,
database.py what differs between SQLite and PostgreSQL.
"""
