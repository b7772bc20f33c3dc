"""Use cases: one transaction each — the change, its events, notifications and counters."""
