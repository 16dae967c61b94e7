"""Operating segsync: health checks, Prometheus metrics, logs, progress on a terminal."""
