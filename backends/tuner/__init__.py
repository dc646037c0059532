"""The autotuner in the cockpit: the Experiments pane (attaches to a running tuner)."""
