"""What the change-event receiver (``workers/receiver/app.py``) stands on: bounded body
reads, proxy trust, request authentication and the hardened HTTP server."""
