"""What the change-event receiver (``workers/webhooks.py``) stands on: bounded body
reads, proxy trust, request authentication and the hardened HTTP server."""
