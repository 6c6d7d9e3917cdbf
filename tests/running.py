"""The installed `sitedeploy` command run as a user runs it: a subprocess in its own
process group, its output read as it comes."""

from __future__ import annotations

import os
import queue
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

# The installed command, beside this interpreter (the virtual environment's).
SITEDEPLOY = str(Path(sys.executable).parent / "sitedeploy")


def cli(
    *args: str, env: dict[str, str] | None = None, stdin: str | None = None, timeout: float = 900
) -> subprocess.CompletedProcess[str]:
    """`sitedeploy ARGS` run to its end: exit code, stdout and stderr (a failure is data)."""
    return subprocess.run(
        [SITEDEPLOY, *args],
        capture_output=True, text=True, timeout=timeout, check=False, input=stdin,
        env={**os.environ, **(env or {})},
    )  # fmt: skip


class Running:
    """A `sitedeploy` subprocess in its own process group, its output read as it comes."""

    def __init__(self, *args: str, env: dict[str, str] | None = None) -> None:
        self.process = subprocess.Popen(
            [SITEDEPLOY, *args],
            env={**os.environ, **(env or {})},
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            stdin=subprocess.PIPE,
            text=True,
            start_new_session=True,
        )
        self.lines: queue.Queue[str] = queue.Queue()
        self.output: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.put(line)

    def wait_for(self, text: str, timeout: float = 300) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                line = self.lines.get(timeout=0.5)
            except queue.Empty:
                if self.process.poll() is not None and self.lines.empty():
                    break
                continue
            self.output.append(line)
            if text in line:
                return
        raise AssertionError(f"{text!r} never appeared; output:\n{''.join(self.output)}")

    def enter(self) -> None:
        """A line on its standard input, as Enter in a terminal."""
        assert self.process.stdin is not None
        self.process.stdin.write("\n")
        self.process.stdin.flush()

    def interrupt(self) -> int:
        """Ctrl-C: SIGINT to the whole process group; return the exit code."""
        os.killpg(self.process.pid, signal.SIGINT)
        code = self.process.wait(timeout=120)
        self._reader.join(timeout=30)
        while not self.lines.empty():
            self.output.append(self.lines.get())
        return code

    def finish(self, timeout: float = 600) -> int:
        code = self.process.wait(timeout=timeout)
        self._reader.join(timeout=30)  # until its output has been read to the end
        while not self.lines.empty():
            self.output.append(self.lines.get())
        return code
