"""Stage 2, serve: the local preview — hardened containers, the front that owns the port,
the zero-downtime switch, and the hot loop of watch mode.

Entries: `deployer.serve.switch.serve_image`, `deployer.serve.hot_loop.HotLoop`.
"""
