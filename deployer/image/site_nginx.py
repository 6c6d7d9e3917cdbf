"""The nginx files a site's image adds over the runtime's, each only where the runtime's
would not do: security-headers.conf (its `[headers]`), csp.conf (its pages' policies) and
redirects.conf (its base path).
"""

from __future__ import annotations

from deployer.config import SiteConfig
from deployer.csp.derive import SitePolicy
from deployer.headers import (
    SITE_CONF,
    SITE_CSP_CONF,
    render_conf,
    render_csp_conf,
    site_headers,
    strict_policy,
)
from deployer.redirects import (
    SITE_REDIRECTS_CONF,
    Redirect,
    render_redirects_conf,
)


def site_nginx_files(
    config: SiteConfig, policy: SitePolicy, redirects: tuple[Redirect, ...] = ()
) -> tuple[dict[str, str], list[str]]:
    """The nginx files the site's image adds over the runtime's (path -> text; none when
    the runtime's serve it as it should be), and pages left on the default policy."""
    files: dict[str, str] = {}
    if config.headers:
        files[SITE_CONF] = render_conf(site_headers(config.headers))
    conf, skipped = render_csp_conf(policy.default, policy.pages)
    if conf != render_csp_conf(strict_policy(), {})[0]:
        files[SITE_CSP_CONF] = conf
    if redirects:
        files[SITE_REDIRECTS_CONF] = render_redirects_conf(redirects)
    return files, skipped
