"""Outgoing mail: written to the outbox with the change it tells about, delivered after."""
