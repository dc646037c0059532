"""Prometheus metrics with SGOrch's exact names, on their own registry.

A private CollectorRegistry keeps several orchestrators in one process (tests) apart
and keeps the default process collectors out of the orchestrator's /metrics.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest, start_http_server


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.desired = Gauge("sgorch_workers_desired", "Desired worker count", ["deployment"], registry=r)
        self.ready = Gauge("sgorch_workers_ready", "Ready worker count", ["deployment"], registry=r)
        self.unhealthy = Gauge("sgorch_workers_unhealthy", "Unhealthy worker count", ["deployment"], registry=r)
        self.tunnels_up = Gauge("sgorch_tunnels_up", "Active tunnel count", ["deployment"], registry=r)
        self.restarts = Counter("sgorch_restarts_total", "Worker restarts", ["deployment", "reason"], registry=r)
        self.router_errors = Counter("sgorch_router_errors_total", "Router API errors",
                                     ["deployment", "operation"], registry=r)
        self.slurm_errors = Counter("sgorch_slurm_errors_total", "SLURM operation errors",
                                    ["deployment", "operation"], registry=r)
        # The public sgorch's per-worker node probe metrics (orchestrator.node_probe).
        self.node_probe_total = Counter("sgorch_node_probe_total", "Worker node probe attempts",
                                        ["deployment", "worker", "status"], registry=r)
        self.node_probe_latency = Histogram("sgorch_node_probe_latency_seconds", "Latency of worker node probes",
                                            ["deployment", "worker"], registry=r)
        self.node_probe_success = Gauge("sgorch_node_probe_success", "1 if the last worker node probe succeeded",
                                        ["deployment", "worker"], registry=r)
        self.node_probe_timestamp = Gauge("sgorch_node_probe_timestamp", "Time of the last worker node probe",
                                          ["deployment", "worker"], registry=r)
        self._server = None
        self.port: int | None = None

    def serve(self, bind: str, port: int) -> int:
        """Start /metrics; returns the port (useful with port 0)."""
        server, _thread = start_http_server(port, addr=bind, registry=self.registry)
        self._server = server
        self.port = server.server_address[1]
        return self.port

    def text(self) -> str:
        return generate_latest(self.registry).decode()

    def close(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
