from deployer.image.build_log import PlainProgressParser, parse_classic_stream

BUILDKIT_FAILURE = """#1 [internal] load build definition from Dockerfile
#1 sha256:2708f41c69e0f7f8d807ea1538295a4256ba2cbbd96410f8cce03994dcd2af92
#1 transferring dockerfile: 141B done
#1 DONE 0.0s

#4 [builder 1/3] FROM docker.io/sitedeploy/debian:bookworm
#4 CACHED

#5 [builder 2/3] RUN echo hello && echo to-stderr >&2
#5 sha256:93b59ce5d24464d6b1ddaed04daa1125ac7922a82f297c9b149908f58cd5253d
#5 0.148 hello
#5 0.149 to-stderr
#5 DONE 0.2s

#6 [builder 3/3] RUN jekyll build --destination /site/_site
#6 0.135 Liquid Exception: boom in index.md
#6 ERROR: executor failed running [/bin/sh -c jekyll build]: exit code: 1
------
 > [builder 3/3] RUN jekyll build --destination /site/_site:
------
executor failed running [/bin/sh -c jekyll build]: exit code: 1
"""


def test_plain_progress_groups_output_by_step_and_finds_the_failure() -> None:
    parser = PlainProgressParser()
    shown = [parser.feed(line) for line in BUILDKIT_FAILURE.splitlines()]
    output = parser.output(image_id=None, code=1)
    assert "[builder 2/3] RUN echo hello && echo to-stderr >&2" in shown
    assert "[internal] load build definition from Dockerfile" not in shown
    assert output.steps[1].cached
    assert output.step("echo hello") is not None
    assert output.step("echo hello").lines == ["hello", "to-stderr"]  # type: ignore[union-attr]
    failed = output.failed_step
    assert failed is not None
    assert "jekyll build" in failed.instruction
    assert failed.lines == ["Liquid Exception: boom in index.md"]
    assert output.error == "executor failed running [/bin/sh -c jekyll build]: exit code: 1"


def test_plain_progress_failure_outside_a_step_uses_the_trailer() -> None:
    parser = PlainProgressParser()
    parser.feed("error: failed to solve: pull access denied for nope")
    assert parser.output(None, 1).error == "error: failed to solve: pull access denied for nope"


def test_success_has_no_error() -> None:
    parser = PlainProgressParser()
    parser.feed("#1 [builder 1/1] FROM x")
    assert parser.output("sha256:abc", 0).error is None


def test_classic_stream_steps() -> None:
    lines = [
        "Step 1/3 : FROM debian",
        " ---> 1234",
        "Step 2/3 : RUN apt-get install jekyll",
        " ---> Using cache",
        " ---> 5678",
        "Step 3/3 : RUN jekyll build",
        " ---> Running in abc",
        "Liquid Exception: boom",
        "Removing intermediate container abc",
    ]
    steps = parse_classic_stream(lines)
    assert [s.instruction for s in steps] == [
        "(context)",
        "FROM debian",
        "RUN apt-get install jekyll",
        "RUN jekyll build",
    ]
    assert steps[2].cached
    assert steps[3].lines == ["Liquid Exception: boom"]
