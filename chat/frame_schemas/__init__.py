"""The JSON Schema of every WebSocket frame, one module per direction: `client` (frames a client
sends), `entries` (the change-feed entries, live and inside a sync.batch), `server` (every frame a
server sends: the entries, answers, presence, errors), built from the shared pieces of
`components`. `chat.protocol_schema` makes the AsyncAPI document of them.

Payload schemas use only JSON Schema draft-07 keywords (AsyncAPI's default schema format). They
leave `additionalProperties` open: a server of the same protocol version may add a field to a
frame, and clients ignore fields (and frame types) they do not know. The tests validate strictly,
so the code cannot send a field these modules do not describe.
"""
