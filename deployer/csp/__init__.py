"""Content-Security-Policy: what a page loads, what a policy allows, and the policy a site
needs — the one analysis behind the policy a build derives (`image/site_csp.py`) and the
static check that reports what a served policy blocks (`check/csp_audit.py`). Part of the
core: config, image and check all read it."""
