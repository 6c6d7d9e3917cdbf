"""Stage 3, check: prove over real HTTP (and optionally in Chromium) that the served site is
the one that was built, and that its links work.

Entry: `deployer.check.served.check_site` (and `check_changed`, a hot edit's first check).
"""
