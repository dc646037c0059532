"""Docker Engine: containers, their events, stats, logs and errors (local socket, tcp://, ssh://)."""
