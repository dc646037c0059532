"""One module per lab service; each `start(ctx)` launches and returns its readiness check."""
