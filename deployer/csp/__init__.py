"""Content-Security-Policy: what a page loads, what a policy allows, and the policy a site
needs — the one analysis behind the policy a build derives (`build/images.py`) and the
static check that reports what a served policy blocks (`check/csp_audit.py`)."""
