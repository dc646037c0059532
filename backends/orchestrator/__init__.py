"""The orchestrator's pane: a client of its control socket (the service is servedeck.orchestrator)."""
