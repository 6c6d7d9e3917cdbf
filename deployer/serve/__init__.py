"""Stage 2, serve: the local preview — hardened containers, the front that owns the port,
the zero-downtime switch, and watch mode.

Entry: `deployer.serve.up.up`.
"""
