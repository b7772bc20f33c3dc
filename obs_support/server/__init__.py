"""The HTTP server: the only part of obs-support that touches the database."""
