"""Render the Dockerfile templates in `docker/` for a site.

The templates use `string.Template` placeholders (`${name}`); every value is rendered
here, from validated inputs, so the rendered text is the complete recipe a user can read
(`sitedeploy build --print-dockerfile`) and that the image history will match.
"""

from __future__ import annotations

import base64
import json
import shlex
from dataclasses import dataclass
from string import Template

from deployer import __version__
from deployer.image.gems import VENDOR_CACHE, GemsPlan, GemsWay
from deployer.image.plugins import JekyllRequirements
from deployer.platforms import Platform
from deployer.resources import docker_dir
from deployer.serving_rules import COMPRESS_MIN_BYTES, compressible_globs, never_served_find

OVERRIDES_FILE = "/site/sitedeploy.yml"
PLUGINS_IN_BUILDER = "/site/plugins"  # sitedeploy's own Jekyll plugins (progress)
PROGRESS_PLUGIN = "jekyll/sitedeploy-progress.rb"
# Upstream Jekyll fixes for the Debian way, loaded with `ruby -r` (docker/jekyll/…).
JEKYLL_FIXES = "jekyll/sitedeploy-fixes.rb"
FIXES_IN_BUILDER = "/site/fixes/sitedeploy-fixes.rb"
JEKYLL_CACHE = "/site/src/.jekyll-cache"
COMPRESS_CACHE = "/var/cache/sitedeploy-compress"
NGINX_CONF_DIR = "/etc/nginx"

# Stage names, shared with the builders.
BUILDER_STAGE = "builder"
PACK_STAGE = "pack"
FINAL_STAGE = "nginx"


def _template(name: str) -> Template:
    return Template((docker_dir() / name).read_text(encoding="utf-8"))


def render_runtime_dockerfile(*, nginx_base: str, target: Platform, native: bool) -> str:
    """The Dockerfile of the shared nginx runtime image for `target` (context:
    docker/runtime/): nginx installed on the engine's own CPU (`native`), else another
    CPU's Debian packages unpacked, never run."""
    build = _template("runtime/native-build.in" if native else "runtime/cross-build.in")
    stage = build.substitute(
        nginx_base=nginx_base,
        debian_arch=target.debian_arch,
        triplet=target.triplet,
        musl_triplet=target.musl_triplet,
    )
    return _template("runtime/Dockerfile.in").substitute(
        version=__version__, platform=target.name, nginx_build=stage
    )


def render_renewer_dockerfile(*, base: str) -> str:
    """The Dockerfile of a live site's certificate renewer (context: docker/acme/)."""
    return _template("acme/Dockerfile.in").substitute(version=__version__, base=base)


@dataclass(frozen=True)
class SiteRecipe:
    """What a site's Dockerfile is rendered from: the bases, what Jekyll needs, the gems'
    way and the builder (BuildKit gets cache mounts)."""

    site_name: str
    site_id: str
    builder_base: str
    runtime_image: str
    tools_image: str
    requirements: JekyllRequirements
    buildkit: bool
    gems: GemsPlan | None = None
    ruby_from_debian: bool = True  # Bundler on Debian's Ruby (no official Ruby image here)
    gemfile: str | None = None  # the Gemfile sitedeploy writes for a site without one
    before: str | None = None  # [build] before
    brotli_quality: int = 9


def render_site_dockerfile(recipe: SiteRecipe, site_conf_image: str | None = None) -> str:
    """The site's multi-stage Dockerfile: builder (Jekyll) -> pack -> nginx.

    The builder stage installs the gems the Debian way (packages) or the Bundler way
    (`recipe.gems`; on Debian's Ruby when no official Ruby image was available). The site's
    own nginx files (`site_conf_image`, see image/conf_image.py) are copied over the
    runtime's; without them the image has no such layer.
    """
    requirements, gems, buildkit, site_id = (
        recipe.requirements,
        recipe.gems,
        recipe.buildkit,
        recipe.site_id,
    )
    bundler = gems is not None and gems.way is GemsWay.BUNDLER
    configs = ",".join([*requirements.config_files, OVERRIDES_FILE])
    # Only validated gem names reach this JSON, so it needs no shell quoting beyond '…'.
    # strict_front_matter: bad YAML front matter fails the build (Jekyll only logs it).
    settings: dict[str, object] = {}
    if not bundler or requirements.skipped:
        # Offline, exactly the plugins that are installed; with Bundler, the site's own
        # list (Bundler loads the Gemfile's group) less what the site skips.
        settings["plugins"] = list(requirements.plugins)
    settings["strict_front_matter"] = True
    # The site's plugin folder, and ours beside it (Jekyll takes a list; ours is absolute).
    settings["plugins_dir"] = [*requirements.plugins_dir, PLUGINS_IN_BUILDER]
    if requirements.own_theme and not bundler:
        # The site is the theme: its own files, no theme gem. (Not null: Jekyll's config
        # merge keeps the earlier value over a null; a non-string means "no theme".)
        settings["theme"] = False
    if requirements.time:
        settings["time"] = requirements.time  # reproducible: see jekyll_config.content_time
    overrides = json.dumps(settings)
    own_plugins = _written(
        PROGRESS_PLUGIN, f"{PLUGINS_IN_BUILDER}/{PROGRESS_PLUGIN.rsplit('/', 1)[1]}"
    )
    cache_mount = (
        f"--mount=type=cache,id=sitedeploy-jekyll-{site_id},target={JEKYLL_CACHE} "
        if buildkit
        else ""
    )
    # BuildKit keeps compressed files between builds (by content hash); classic: every time.
    compress_mount = (
        f"--mount=type=cache,id=sitedeploy-compress,target={COMPRESS_CACHE} " if buildkit else ""
    )
    builder = _builder_stage(
        requirements, gems if bundler else None, recipe.ruby_from_debian, site_id, buildkit,
        gemfile=recipe.gemfile,
        builder_base=recipe.builder_base, overrides=overrides, own_plugins=own_plugins,
        jekyll_cache_mount=cache_mount, before_step=_before_step(recipe.before, buildkit),
        jekyll_configs=shlex.quote(configs),
    )  # fmt: skip
    site_conf_copy = (
        f"\nCOPY --from={site_conf_image} {NGINX_CONF_DIR}/ {NGINX_CONF_DIR}/"
        if site_conf_image
        else ""
    )
    return _template("site.Dockerfile.in").substitute(
        version=__version__,
        site_name=recipe.site_name,
        builder_stage=builder,
        runtime_image=recipe.runtime_image,
        tools_image=recipe.tools_image,
        baseurl=requirements.baseurl,
        never_served=never_served_find(),
        compressible=compressible_globs(),
        compress_cache_mount=compress_mount,
        compress_cache=COMPRESS_CACHE,
        compress_min_bytes=COMPRESS_MIN_BYTES,
        brotli_quality=recipe.brotli_quality,
        site_conf_copy=site_conf_copy,
    )


# What the builder stage writes beside `_site`: every gem the build used (name, version,
# where it came from), for the image's labels.
# Offline: Jekyll, the plugins and theme, and everything they depend on, as installed.
DEBIAN_GEMS = (
    "seen = {}; todo = ARGV.dup; until todo.empty?; n = todo.shift; next if seen[n]; "
    "s = (Gem::Specification.find_by_name(n) rescue nil); next unless s; seen[n] = s; "
    "todo.concat(s.runtime_dependencies.map(&:name)); end; "
    'seen.values.sort_by(&:name).each { |s| puts [s.name, s.version, "debian"].join("\\t") }'
)
# Bundler: every gem of the bundle, and where it came from (a source without credentials,
# Debian's packages, or Ruby's own default gems).
BUNDLER_GEMS = (
    "Bundler.load.specs.sort_by(&:name).each { |s| f = s.loaded_from.to_s; "
    'w = f.include?("/specifications/default/") ? "ruby" : '
    'f.include?("/rubygems-integration/") || f.start_with?("/usr/lib/ruby/vendor_ruby") ? '
    '"debian" : (s.source.respond_to?(:remotes) ? '
    's.source.remotes.first.to_s.sub(%r{//[^/@]*@}, "//") : s.source.to_s); '
    'puts [s.name, s.version, w].join("\\t") }'
)
# Bundler on the bootstrapped Debian base: Debian's Ruby, Bundler and compilers for
# native extensions, plus the Debian packages of the gems Debian has (Bundler takes
# those as installed, so a gem source needs to serve only what Debian lacks).
DEBIAN_RUBY = ("ruby", "ruby-dev", "ruby-bundler", "build-essential", "git")
# Bundler on the official Ruby image: compilers, git (gemspecs), brotli for the pack stage.
RUBY_IMAGE_PACKAGES = ("build-essential", "git", "brotli")


# `[build] before`: Node and npm from Debian, the command in a file (base64 keeps its
# quotes away from the shell), a host CA bundle as a BuildKit secret (never in a layer:
# the way through a TLS-inspecting proxy) and npm's cache kept between builds.
NODE_PACKAGES = ("nodejs", "npm")
CA_SECRET = "sitedeploy-ca"
CA_IN_BUILD = f"/run/secrets/{CA_SECRET}.crt"
# The gem source's credentials (Bundler's own BUNDLE_<HOST> variable), for bundle install.
BUNDLE_SECRET = "sitedeploy-bundle"
BUNDLE_IN_BUILD = f"/run/secrets/{BUNDLE_SECRET}.env"


def _written(source: str, target: str) -> str:
    """A shell command that writes one of sitedeploy's files (docker/`source`) at `target`
    (base64 keeps its quotes away from the shell; the recipe shows it whole)."""
    data = base64.b64encode((docker_dir() / source).read_bytes()).decode()
    return f"mkdir -p {target.rsplit('/', 1)[0]} && echo {data} | base64 -d > {target}"


DEBIAN_GEMS_SCRIPT = "jekyll/sitedeploy-debian-gems.rb"


def _debian_gems_step(gems: GemsPlan) -> str:
    """Bundler on Debian's Ruby: every gem of the bundle that Debian packages, the ones the
    Gemfile does not name included, installed from Debian before Bundler runs (a gem source
    then needs to serve only what Debian lacks)."""
    source = shlex.quote(gems.shown_source or "") if not gems.local else "''"
    return (
        "# Every gem of the bundle that Debian packages comes from Debian "
        "(docker/jekyll/sitedeploy-debian-gems.rb).\n"
        f"RUN {_written(DEBIAN_GEMS_SCRIPT, '/site/debian-gems.rb')} \\\n"
        f" && SITEDEPLOY_GEM_SOURCE={source} ruby /site/debian-gems.rb > /site/debian-gems.txt \\\n"
        " && apt-get update \\\n"
        " && apt-get install -y --no-install-recommends $(apt-cache show $(cat "
        "/site/debian-gems.txt) 2>/dev/null | sed -n 's/^Package: //p' | sort -u) \\\n"
        " && rm -rf /var/lib/apt/lists/*\n"
    )


def _before_step(before: str | None, buildkit: bool) -> str:
    if before is None:
        return ""
    script = base64.b64encode(f"set -e\n{before}\n".encode()).decode()
    mounts = (
        f"--mount=type=secret,id={CA_SECRET},target={CA_IN_BUILD} "
        "--mount=type=cache,id=sitedeploy-npm,target=/root/.npm "
        if buildkit
        else ""
    )
    return (
        f"# [build] before, from sitedeploy.toml\n"
        f"RUN {mounts}echo {script} | base64 -d > /site/before.sh \\\n"
        f" && NODE_EXTRA_CA_CERTS={CA_IN_BUILD} SSL_CERT_FILE={CA_IN_BUILD} sh /site/before.sh\n"
    )


def _builder_stage(
    requirements: JekyllRequirements,
    gems: GemsPlan | None,
    ruby_from_debian: bool,
    site_id: str,
    buildkit: bool,
    gemfile: str | None = None,
    **values: str,
) -> str:
    node = NODE_PACKAGES if values.get("before_step") else ()
    if gems is None:
        loaded = ["jekyll", *requirements.plugins]
        if requirements.theme and not requirements.own_theme:
            loaded.append(requirements.theme)
        return _template("builder-debian.Dockerfile.in").substitute(
            packages=" ".join((*requirements.packages, *node)),
            gems_manifest=DEBIAN_GEMS,
            gem_names=" ".join(shlex.quote(name) for name in loaded),
            jekyll_fixes=_written(JEKYLL_FIXES, FIXES_IN_BUILDER),
            fixes_file=FIXES_IN_BUILDER,
            **values,
        )
    packages = (*DEBIAN_RUBY, *requirements.packages) if ruby_from_debian else RUBY_IMAGE_PACKAGES
    config = []
    if gems.locked:
        config.append("bundle config set --local frozen true")
    if gems.mirrored and gems.source:
        config.append(
            f"bundle config set --local mirror.{shlex.quote(gems.mirrored)} "
            f"{shlex.quote(gems.source)}"
        )
    gems_cache = (
        f"--mount=type=cache,id=sitedeploy-gems-{site_id},target=/root/.bundle/cache "
        if buildkit
        else ""
    )
    if gems.credentials:
        gems_cache += f"--mount=type=secret,id={BUNDLE_SECRET},target={BUNDLE_IN_BUILD} "
        config.insert(0, f"set -a && . {BUNDLE_IN_BUILD} && set +a")
    return _template("builder-bundler.Dockerfile.in").substitute(
        packages=" ".join(dict.fromkeys(packages)),
        gems_cache_mount=gems_cache,
        gem_source=gems.shown_source,
        gem_files_step=(
            "# The site has no Gemfile: this one, written by sitedeploy.\n"
            f"RUN echo {base64.b64encode(gemfile.encode()).decode()} | base64 -d > Gemfile"
            if gemfile
            else f"COPY {' '.join(gems.gem_files)} ./"
        ),
        vendor_cache=f"COPY {VENDOR_CACHE} {VENDOR_CACHE}\n" if gems.local else "",
        # --no-cache: Bundler would write every gem of the bundle into the site's
        # vendor/cache (Debian's, which have no .gem files, included) and fail.
        install_flags=" --local --no-cache" if gems.local else "",
        debian_gems=_debian_gems_step(gems) if ruby_from_debian else "",
        bundle_config="".join(f"{command} \\\n && " for command in config),
        gems_manifest=BUNDLER_GEMS,
        **values,
    )
