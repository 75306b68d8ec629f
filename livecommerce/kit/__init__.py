"""Shared kit: settings, database, errors, pagination, clock, logging, observability; imports no domain."""
