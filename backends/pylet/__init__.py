"""Pylet (PyPI `pylet`): the cluster manager of ServerlessLLM v1-beta, through its head's HTTP API."""
