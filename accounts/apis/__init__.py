"""REST endpoints of accounts (DESIGN.md §3.1), one module per area: `auth` (register, login,
devices), `profiles` (me, the directory), `friends` (friends and friend requests), `blocks`.

Each view parses input, calls one service or selector, and shapes the output. Errors are
`ServiceError`s and DRF exceptions, turned into the one error body by `chatproject.errors`.
"""
