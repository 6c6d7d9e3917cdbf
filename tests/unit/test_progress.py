import io

from rich.console import Console

from deployer.progress import Progress, follow_events


def captured(**options: bool) -> tuple[Progress, io.StringIO]:
    progress = Progress(**options)
    buffer = io.StringIO()
    progress.console = Console(file=buffer, force_terminal=False, width=200)
    return progress, buffer


def test_nested_steps_each_report_their_own_title_once() -> None:
    progress, buffer = captured()
    with progress.step("outer"), progress.step("inner"):
        progress.detail("working")
    lines = [line for line in buffer.getvalue().splitlines() if line.startswith("✓")]
    assert [line.split(" (")[0] for line in lines] == ["✓ inner", "✓ outer"]


def test_nested_steps_on_a_terminal_share_one_spinner() -> None:
    progress = Progress()
    buffer = io.StringIO()
    progress.console = Console(file=buffer, force_terminal=True, color_system=None, width=200)
    with progress.step("outer"), progress.step("inner"):
        progress.detail("working")
    assert "✓ inner" in buffer.getvalue()


def test_a_failed_step_prints_no_tick() -> None:
    progress, buffer = captured()
    try:
        with progress.step("doomed"):
            raise RuntimeError("boom")
    except RuntimeError:
        pass
    assert "✓" not in buffer.getvalue()


def test_quiet_keeps_warnings_only() -> None:
    progress, buffer = captured(quiet=True)
    progress.info("hello")
    with progress.step("step"):
        pass
    progress.warning("careful")
    assert buffer.getvalue().strip() == "warning: careful"


def test_follow_events_collects_lines_aux_and_error() -> None:
    progress, _buffer = captured(quiet=True)
    log = follow_events(
        [
            {"stream": "Step 1/2 : FROM x\n"},
            {"status": "Pushing", "id": "abc", "progress": "[==>  ]"},
            {"aux": {"ID": "sha256:1"}},
            {"errorDetail": {"message": "denied"}, "error": "denied"},
            {"stream": "never read\n"},
        ],
        progress,
    )
    assert log.lines == ["Step 1/2 : FROM x", "abc: Pushing [==>  ]"]
    assert log.aux == [{"ID": "sha256:1"}]
    assert log.error == "denied"


def test_off_a_terminal_a_long_step_says_it_is_alive_now_and_then() -> None:
    progress, buffer = captured()
    with progress.step("Building blog with Jekyll"):
        progress.detail("sitedeploy: read 12 pages, 4,700 documents, 30 static files (3 s)")
        progress.detail("sitedeploy: rendered 40 of 4712 pages and documents (5 s)")
        progress.detail("an ordinary line, not shown")
    shown = [line.strip() for line in buffer.getvalue().splitlines()]
    assert "read 12 pages, 4,700 documents, 30 static files (3 s)" in shown
    assert not any("rendered 40" in line for line in shown)  # within 5 s of the last one
    assert not any("ordinary" in line for line in shown)
    quiet, quiet_buffer = captured(quiet=True)
    quiet.detail("sitedeploy: rendered 1 of 2 pages and documents (0 s)")
    assert quiet_buffer.getvalue() == ""
