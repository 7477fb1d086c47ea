"""The chat server (daphne): the WebSocket consumer and the per-process runtime (delivery loop,
send batcher). Imported only by the ASGI entry point (`chatproject.asgi`)."""
