"""SGOrch inside servedeck: keeps N SGLang (or TEI) workers alive on SLURM.

Textual-free: it runs as a service (`servedeck orchestrate run`) and the cockpit attaches
to it through the control socket (backends/orchestrator/backend.py).
"""
