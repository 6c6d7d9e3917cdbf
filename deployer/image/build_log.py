"""What a build printed, read into steps: each step's instruction, output and error.

Both builders' text is read here: BuildKit's `--progress=plain` lines (`#5 [builder 2/3]
RUN …`, `#5 0.123 output`) and the classic builder's (`Step 2/9 : RUN …` then its
output). The caller finds Jekyll's own error in the step that failed. (The engine's JSON
event streams themselves — build, pull, push — are read by `progress.follow_events`.)
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field


@dataclass
class StepLog:
    """One build step: its instruction and what it printed."""

    instruction: str
    lines: list[str] = field(default_factory=list)
    cached: bool = False
    error: str | None = None


@dataclass
class BuildOutput:
    """What a build produced: an image id, or an error (with the step that failed)."""

    image_id: str | None
    steps: list[StepLog]
    error: str | None = None

    @property
    def failed_step(self) -> StepLog | None:
        failed = [step for step in self.steps if step.error]
        return failed[-1] if failed else None

    def step(self, needle: str) -> StepLog | None:
        """The last step whose instruction contains `needle`."""
        matching = [s for s in self.steps if needle in s.instruction]
        return matching[-1] if matching else None


_STEP = re.compile(r"^#(\d+) (.*)$")
_OUTPUT = re.compile(r"^\d+\.\d+ (.*)$")


class PlainProgressParser:
    """Reads BuildKit's `--progress=plain` output into steps."""

    def __init__(self) -> None:
        self.steps: dict[int, StepLog] = {}
        self.trailer: list[str] = []

    def feed(self, line: str) -> str | None:
        """Take one line; return the text worth showing the user, if any."""
        line = line.rstrip("\n")
        match = _STEP.match(line)
        if not match:
            if line.strip() and not line.startswith(("------", " > ")):
                self.trailer.append(line)
            return None
        number, rest = int(match.group(1)), match.group(2)
        step = self.steps.get(number)
        if step is None:
            self.steps[number] = StepLog(instruction=rest)
            return rest if rest.startswith("[") and "[internal]" not in rest else None
        output = _OUTPUT.match(rest)
        if output:
            step.lines.append(output.group(1))
            return output.group(1)
        if rest == "CACHED":
            step.cached = True
        elif rest.startswith("ERROR"):
            step.error = rest.removeprefix("ERROR:").strip()
        return None

    def output(self, image_id: str | None, code: int) -> BuildOutput:
        steps = [self.steps[number] for number in sorted(self.steps)]
        error = None
        if code != 0 or image_id is None:
            failed = [step.error for step in steps if step.error]
            error = (failed[-1] if failed else None) or "\n".join(self.trailer) or f"exit {code}"
        return BuildOutput(image_id=image_id, steps=steps, error=error)


_CLASSIC_STEP = re.compile(r"^Step \d+/\d+ : (.*)$")
_CLASSIC_NOISE = re.compile(
    r"^( ---> |Removing intermediate container|Successfully (built|tagged)|Sending build context)"
)


def parse_classic_stream(lines: Iterable[str]) -> list[StepLog]:
    """Group classic-builder output lines into steps."""
    steps = [StepLog(instruction="(context)")]
    for line in lines:
        header = _CLASSIC_STEP.match(line)
        if header:
            steps.append(StepLog(instruction=header.group(1)))
        elif line.strip() == "---> Using cache":
            steps[-1].cached = True
        elif not _CLASSIC_NOISE.match(line):
            steps[-1].lines.append(line)
    return steps
