"""The in-container side of the SGLang helper container (seed 000): its image definitions
(`Dockerfile` on an SGLang base, `Dockerfile.busybox` for tests and the lab) and
`init-run.sh`, shipped as package data and built by `servedeck.backends.runs.image`."""
