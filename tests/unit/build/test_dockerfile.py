from pathlib import Path

from deployer.build.dockerfile import render_runtime_dockerfile, render_site_dockerfile
from deployer.build.plugins import JekyllRequirements
from deployer.build.policy import never_served_find
from deployer.resources import docker_dir

REQUIREMENTS = JekyllRequirements(
    packages=("jekyll", "brotli", "ruby-jekyll-feed"),
    plugins=("jekyll-feed",),
    theme="minima",
    baseurl="/blog",
    config_files=("_config.yml", "_config prod.yml"),
)


def render(buildkit: bool, headers_conf: str | None = None) -> str:
    return render_site_dockerfile(
        site_name="blog",
        site_id="0123456789ab",
        builder_base="debian:bookworm-slim",
        runtime_image="sitedeploy/nginx-runtime:abc",
        tools_image="sitedeploy/nginx-runtime:abc-tools",
        requirements=REQUIREMENTS,
        buildkit=buildkit,
        headers_conf=headers_conf,
    )


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
    assert "ruby /usr/local/lib/sitedeploy/pack.rb /srv/www" in text
    assert "'*.html' '*.htm' '*.css'" in text


def test_jekyll_gets_configs_plugins_and_strict_front_matter() -> None:
    text = render(buildkit=False)
    assert "--config '_config.yml,_config prod.yml,/site/sitedeploy.yml'" in text
    assert '{"plugins": ["jekyll-feed"], "strict_front_matter": true}' in text
    assert "mkdir -p /srv/www/blog /srv/errors" in text
    assert never_served_find() in text


def test_runtime_dockerfile_is_from_scratch_with_a_shell_free_healthcheck() -> None:
    text = render_runtime_dockerfile(nginx_base="sitedeploy/debian:bookworm")
    assert "FROM sitedeploy/debian:bookworm AS nginx-build" in text
    assert "FROM scratch AS runtime" in text
    assert 'CMD ["/usr/local/bin/healthcheck"' in text
    assert "USER 101:101" in text


def test_templates_are_shipped_next_to_the_package() -> None:
    assert (docker_dir() / "site.Dockerfile.in").is_file()
    assert Path(docker_dir() / "runtime" / "healthcheck.c").is_file()
