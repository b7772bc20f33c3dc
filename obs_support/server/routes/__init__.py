"""HTTP routes: thin, each one a use case from `services`."""
