"""The client library: everything the CLI and the TUI know about the server is its REST API."""
