"""The SGLang helper container: its image, its start/stop handshake and the run manifests."""
