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
