"""Docker Compose projects on the configured Docker hosts (found by their labels), driven
through the installed Compose CLI."""
