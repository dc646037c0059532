"""Tests of backends/ssh."""
