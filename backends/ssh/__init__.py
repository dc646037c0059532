"""SSH: the connection pool (host keys verified), port forwards and the tunnels pane."""
