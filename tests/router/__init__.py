"""Tests of backends/router."""
