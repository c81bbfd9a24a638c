"""The HTTP API: a thin ASGI app served by Granian."""
