"""Gauges: GPUs (DCGM), nodes, serving and router metrics from Prometheus or a direct scrape."""
