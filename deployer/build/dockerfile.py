"""Render the Dockerfile templates in `docker/` for a site.

The templates use `string.Template` placeholders (`${name}`); every value is rendered
here, from validated inputs, so the rendered text is the complete recipe a user can read
(`sitedeploy build --print-dockerfile`) and that the image history will match.
"""

from __future__ import annotations

import base64
import json
import shlex
from string import Template

from deployer import __version__
from deployer.build.headers import SITE_CONF
from deployer.build.plugins import JekyllRequirements
from deployer.build.policy import COMPRESS_MIN_BYTES, compressible_globs, never_served_find
from deployer.resources import docker_dir

OVERRIDES_FILE = "/site/sitedeploy.yml"
JEKYLL_CACHE = "/site/src/.jekyll-cache"
COMPRESS_CACHE = "/var/cache/sitedeploy-compress"
HEADERS_IN_PACK = "/srv/conf/security-headers.conf"

# Stage names, shared with the builders.
BUILDER_STAGE = "builder"
FINAL_STAGE = "nginx"


def _template(name: str) -> Template:
    return Template((docker_dir() / name).read_text(encoding="utf-8"))


def render_runtime_dockerfile(*, nginx_base: str) -> str:
    """The Dockerfile of the shared nginx runtime image (context: docker/runtime/)."""
    return _template("runtime/Dockerfile.in").substitute(version=__version__, nginx_base=nginx_base)


def render_site_dockerfile(
    *,
    site_name: str,
    site_id: str,
    builder_base: str,
    runtime_image: str,
    tools_image: str,
    requirements: JekyllRequirements,
    buildkit: bool,
    headers_conf: str | None = None,
    brotli_quality: int = 9,
) -> str:
    """The site's multi-stage Dockerfile: builder (Jekyll) -> pack -> nginx.

    `headers_conf` (the site's own security-headers.conf, from `[headers]`) is written in
    the pack stage and copied over the runtime's; without it the image has no such layer.
    """
    configs = ",".join([*requirements.config_files, OVERRIDES_FILE])
    # Only validated gem names reach this JSON, so it needs no shell quoting beyond '…'.
    # strict_front_matter: bad YAML front matter fails the build (Jekyll only logs it).
    settings: dict[str, object] = {
        "plugins": list(requirements.plugins),
        "strict_front_matter": True,
    }
    if requirements.own_theme:
        # The site is the theme: its own files, no theme gem. (Not null: Jekyll's config
        # merge keeps the earlier value over a null; a non-string means "no theme".)
        settings["theme"] = False
    if requirements.time:
        settings["time"] = requirements.time  # reproducible: see jekyll_config.content_time
    overrides = json.dumps(settings)
    cache_mount = (
        f"--mount=type=cache,id=sitedeploy-jekyll-{site_id},target={JEKYLL_CACHE} "
        if buildkit
        else ""
    )
    # BuildKit keeps compressed files between builds (by content hash); classic: every time.
    compress_mount = (
        f"--mount=type=cache,id=sitedeploy-compress,target={COMPRESS_CACHE} " if buildkit else ""
    )
    headers_command = headers_copy = ""
    if headers_conf is not None:
        # base64 keeps the file's quotes and semicolons away from the shell.
        encoded = base64.b64encode(headers_conf.encode()).decode()
        headers_command = (
            f" \\\n && mkdir -p {HEADERS_IN_PACK.rsplit('/', 1)[0]}"
            f" \\\n && echo {encoded} | base64 -d > {HEADERS_IN_PACK}"
        )
        headers_copy = f"\nCOPY --from=pack {HEADERS_IN_PACK} {SITE_CONF}"
    return _template("site.Dockerfile.in").substitute(
        version=__version__,
        site_name=site_name,
        builder_base=builder_base,
        runtime_image=runtime_image,
        tools_image=tools_image,
        packages=" ".join(requirements.packages),
        overrides=overrides,
        jekyll_cache_mount=cache_mount,
        jekyll_configs=shlex.quote(configs),
        baseurl=requirements.baseurl,
        never_served=never_served_find(),
        compressible=compressible_globs(),
        compress_cache_mount=compress_mount,
        compress_cache=COMPRESS_CACHE,
        compress_min_bytes=COMPRESS_MIN_BYTES,
        brotli_quality=brotli_quality,
        headers_command=headers_command,
        headers_copy=headers_copy,
    )
