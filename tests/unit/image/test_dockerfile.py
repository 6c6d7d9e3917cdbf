from pathlib import Path
from typing import Any

from deployer.image.dockerfile import (
    SiteRecipe,
    render_runtime_dockerfile,
    render_site_dockerfile,
)
from deployer.image.gems import GemsPlan, GemsWay
from deployer.image.plugins import JekyllRequirements
from deployer.platforms import AMD64, ARM64
from deployer.resources import docker_dir
from deployer.serving_rules import never_served_find

REQUIREMENTS = JekyllRequirements(
    packages=("jekyll", "brotli", "ruby-jekyll-feed"),
    plugins=("jekyll-feed",),
    theme="minima",
    baseurl="/blog",
    config_files=("_config.yml", "_config prod.yml"),
)


def render(buildkit: bool = True, **options: Any) -> str:
    """The site Dockerfile of a small blog; `options` go to its recipe (but the site's
    own nginx files: `site_conf_image`)."""
    conf = options.pop("site_conf_image", None)
    recipe = SiteRecipe(
        **{
            "site_name": "blog",
            "site_id": "0123456789ab",
            "builder_base": "debian:bookworm-slim",
            "runtime_image": "sitedeploy/nginx-runtime:abc",
            "tools_image": "sitedeploy/nginx-runtime:abc-tools",
            "requirements": REQUIREMENTS,
            "buildkit": buildkit,
            **options,
        }
    )
    return render_site_dockerfile(recipe, conf)


def test_site_dockerfile_has_named_stages_in_cache_friendly_order() -> None:
    text = render(buildkit=True)
    assert "FROM debian:bookworm-slim AS builder" in text
    assert "FROM builder AS pack" in text
    assert "FROM sitedeploy/nginx-runtime:abc AS nginx" in text
    install = text.index(
        "apt-get install -y --no-install-recommends jekyll brotli ruby-jekyll-feed"
    )
    assert install < text.index("COPY . .") < text.index("jekyll build --destination")
    assert "${" not in text


def test_cache_mounts_only_with_buildkit() -> None:
    assert "--mount=type=cache,id=sitedeploy-jekyll-0123456789ab" in render(buildkit=True)
    assert "--mount=type=cache,id=sitedeploy-compress" in render(buildkit=True)
    assert "--mount" not in render(buildkit=False)


def test_pack_stage_borrows_the_precompressor_from_the_tools_image() -> None:
    text = render(buildkit=True)
    assert "COPY --from=sitedeploy/nginx-runtime:abc-tools /pack.rb" in text
    assert "ruby --disable-gems /usr/local/lib/sitedeploy/pack.rb /srv/www" in text
    assert "'*.html' '*.htm' '*.css'" in text


def test_jekyll_gets_configs_plugins_and_strict_front_matter() -> None:
    text = render(buildkit=False)
    assert "--config '_config.yml,_config prod.yml,/site/sitedeploy.yml'" in text
    assert (
        '{"plugins": ["jekyll-feed"], "strict_front_matter": true, '
        '"plugins_dir": ["_plugins", "/site/plugins"]}'
    ) in text
    assert "base64 -d > /site/plugins/sitedeploy-progress.rb" in text
    assert "mkdir -p /srv/www/blog /srv/errors" in text
    assert never_served_find() in text


def test_runtime_dockerfile_is_from_scratch_with_a_shell_free_healthcheck() -> None:
    text = render_runtime_dockerfile(
        nginx_base="sitedeploy/debian:bookworm", target=AMD64, native=True
    )
    assert "FROM sitedeploy/debian:bookworm AS nginx-build" in text
    assert "apt-get install -y --no-install-recommends \\\n        nginx-light" in text
    assert "sh /build/collect-rootfs.sh /rootfs\n" in text
    assert "FROM scratch AS runtime" in text
    assert 'CMD ["/usr/local/bin/healthcheck"' in text
    assert "USER 101:101" in text


def test_another_cpus_runtime_is_unpacked_from_its_packages_and_cross_compiled() -> None:
    text = render_runtime_dockerfile(
        nginx_base="sitedeploy/debian:bookworm", target=ARM64, native=False
    )
    assert "runtime for linux/arm64" in text
    assert "dpkg --add-architecture arm64" in text
    assert "--download-only" in text and "nginx:arm64 libnginx-mod-http-brotli-static:arm64" in text
    assert "aarch64-linux-gnu-gcc -specs /usr/lib/aarch64-linux-musl/musl-gcc.specs -static" in text
    assert "sh /build/collect-rootfs.sh /rootfs /build/debs aarch64-linux-gnu" in text
    # The final stages are the same recipe as the engine's own CPU's.
    native = render_runtime_dockerfile(
        nginx_base="sitedeploy/debian:bookworm", target=ARM64, native=True
    )
    assert text.split("FROM scratch AS runtime")[1] == native.split("FROM scratch AS runtime")[1]
    assert "$" not in text.replace("${Version}", "")


def test_templates_are_shipped_next_to_the_package() -> None:
    assert (docker_dir() / "site.Dockerfile.in").is_file()
    assert Path(docker_dir() / "runtime" / "healthcheck.c").is_file()


def _bundler(ruby_from_debian: bool, locked: bool = True) -> str:
    plan = GemsPlan(
        GemsWay.BUNDLER,
        "Gems: Bundler",
        source="http://127.0.0.1:9292",
        mirrored="https://rubygems.org",
        gem_files=("Gemfile", "Gemfile.lock") if locked else ("Gemfile",),
        locked=locked,
    )
    return render(
        builder_base="ruby:3.3-slim" if not ruby_from_debian else "debian:bookworm-slim",
        gems=plan,
        ruby_from_debian=ruby_from_debian,
    )


def test_bundler_builds_install_the_gems_before_the_content() -> None:
    text = _bundler(ruby_from_debian=False)
    assert "FROM ruby:3.3-slim AS builder" in text
    assert "apt-get install -y --no-install-recommends build-essential git brotli" in text
    gems, install = text.index("COPY Gemfile Gemfile.lock ./"), text.index("bundle install")
    build = text.index("bundle exec jekyll build --destination")
    assert gems < install < text.index("COPY . .") < build
    assert "bundle config set --local frozen true" in text
    assert "bundle config set --local mirror.https://rubygems.org http://127.0.0.1:9292" in text
    assert "JEKYLL_NO_BUNDLER_REQUIRE" not in text
    assert '"plugins"' not in text  # Bundler loads the Gemfile's group itself
    assert "${" not in text


def test_bundler_on_debians_ruby_installs_what_debian_has_first() -> None:
    text = _bundler(ruby_from_debian=True, locked=False)
    assert (
        "apt-get install -y --no-install-recommends ruby ruby-dev ruby-bundler build-essential "
        "git jekyll brotli ruby-jekyll-feed"
    ) in text
    assert "--local frozen" not in text and "COPY Gemfile ./" in text


def test_before_runs_with_node_and_the_ca_as_a_secret_before_jekyll() -> None:
    text = render(before="npm ci && npm run 'build'")
    assert "jekyll brotli ruby-jekyll-feed nodejs npm" in text
    step = text.index("--mount=type=secret,id=sitedeploy-ca,target=/run/secrets/sitedeploy-ca.crt")
    assert text.index("COPY . .") < step < text.index("jekyll build --destination")
    assert "NODE_EXTRA_CA_CERTS=/run/secrets/sitedeploy-ca.crt" in text
    assert "npm run 'build'" not in text  # base64: the command's quotes never meet the shell


def test_gem_source_credentials_reach_bundle_install_as_a_secret_only() -> None:
    plan = GemsPlan(
        GemsWay.BUNDLER, "Gems: Bundler", source="https://gems.example.com",
        gem_files=("Gemfile",), credentials="BUNDLE_GEMS__EXAMPLE__COM=me:s3cret",
    )  # fmt: skip
    text = render(builder_base="ruby:3.3-slim", gems=plan, ruby_from_debian=False)
    assert "s3cret" not in text and "BUNDLE_GEMS__EXAMPLE__COM" not in text
    assert (
        "--mount=type=secret,id=sitedeploy-bundle,target=/run/secrets/sitedeploy-bundle.env" in text
    )
    assert "set -a && . /run/secrets/sitedeploy-bundle.env && set +a" in text


def test_the_debian_way_loads_the_upstream_fixes_and_bundler_never() -> None:
    debian = render()
    assert "> /site/fixes/sitedeploy-fixes.rb" in debian
    assert "RUBYOPT=-r/site/fixes/sitedeploy-fixes.rb jekyll build" in debian
    bundler = render(gems=GemsPlan(GemsWay.BUNDLER, "Gems: Bundler", source="https://x.org"))
    assert "sitedeploy-fixes" not in bundler
    fixes = (docker_dir() / "jekyll/sitedeploy-fixes.rb").read_text()
    assert 'affected?("4.3.0", "4.3.2")' in fixes and "def each_site_file" in fixes


def test_gems_from_vendor_cache_are_copied_and_installed_locally() -> None:
    plan = GemsPlan(GemsWay.BUNDLER, "Gems: Bundler from vendor/cache", local=True,
                    gem_files=("Gemfile", "Gemfile.lock"), locked=True)  # fmt: skip
    text = render(gems=plan)
    assert "COPY Gemfile Gemfile.lock ./\nCOPY vendor/cache vendor/cache\n" in text
    assert "bundle install --local --no-cache" in text and "from vendor/cache" in text


def test_a_written_gemfile_goes_into_the_builder_in_the_recipe() -> None:
    plan = GemsPlan(GemsWay.BUNDLER, "Gems: Bundler", source="https://rubygems.org", written=True)
    text = render(gems=plan, gemfile='source "https://rubygems.org"\ngem "jekyll"\n')
    assert "# The site has no Gemfile: this one, written by sitedeploy." in text
    assert "| base64 -d > Gemfile\n" in text and "COPY Gemfile" not in text


def test_bundler_on_debians_ruby_installs_debians_gems_of_the_whole_bundle_first() -> None:
    plan = GemsPlan(GemsWay.BUNDLER, "Gems: Bundler", source="http://127.0.0.1:9/gems")
    on_debian = render(gems=plan, ruby_from_debian=True)
    step = on_debian.index(
        "SITEDEPLOY_GEM_SOURCE=http://127.0.0.1:9/gems ruby /site/debian-gems.rb"
    )
    assert step < on_debian.index("bundle install")
    assert "sitedeploy-debian-gems" not in render(gems=plan, ruby_from_debian=False)
