"""The renewer's health check: healthy once the certificate in place (as the renewer's
/tls/status.json describes it) is from the settings' directory, for their names, and not
expired. A swarm starts a renewer task as "starting" and calls it running only once this
passes, so `sitedeploy deploy --to swarm` waits for a certificate on every node by waiting
for the renewer's tasks. Standard library only: a check costs milliseconds, not an import
of the ACME library.

    healthy.py SETTINGS   exit 0 (healthy) or 1
"""

from __future__ import annotations

import datetime as dt
import json
import sys
from pathlib import Path

STATUS = Path("/tls/status.json")


def healthy(settings: dict[str, object], status: dict[str, object]) -> bool:
    served = status.get("certificate")
    if not isinstance(served, dict):
        return False
    domains = settings.get("domains")
    if served.get("directory") != settings.get("directory") or not isinstance(domains, list):
        return False
    if served.get("names") != sorted(domains):
        return False
    expires = dt.datetime.fromisoformat(str(served.get("not_after")))
    return expires > dt.datetime.now(dt.UTC)


def main(arguments: list[str]) -> int:
    if len(arguments) != 1:
        print(__doc__, file=sys.stderr)
        return 2
    try:
        status = json.loads(STATUS.read_text())
    except (OSError, ValueError):
        return 1
    return 0 if healthy(json.loads(arguments[0]), status) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
