"""Run the suite on each runtime shape: embedded (SQLite + fakeredis), then services.

`python -m tests.shapes run -- [pytest args]`. The services shape (PostgreSQL + Redis) runs
when both are reachable; with HAGUKUMI_REQUIRE_SERVICES=1 an unreachable one fails the run.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from urllib.parse import urlparse

PG_URL = os.environ.get("HAGUKUMI_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/test")
REDIS_URL = os.environ.get("HAGUKUMI_TEST_REDIS_SERVER", "redis://127.0.0.1:6379/15")


def reachable(url: str) -> bool:
    """Whether something listens at the URL's host and port."""
    parsed = urlparse(url)
    default = 5432 if parsed.scheme.startswith("postgres") else 6379
    try:
        with socket.create_connection((parsed.hostname or "127.0.0.1", parsed.port or default), 3):
            return True
    except OSError:
        return False


def run_pytest(label: str, env: dict[str, str], args: list[str]) -> int:
    """One pytest run; exit 5 (no tests collected) is a failure here, never a pass."""
    print(f"\n=== shape: {label} ===", flush=True)
    code = subprocess.call([sys.executable, "-m", "pytest", *args], env={**os.environ, **env})
    if code == 5:
        print(f"shape {label}: pytest collected no tests", flush=True)
        return 1
    return code


def main(argv: list[str]) -> int:
    """Run every reachable shape and say which ran."""
    args = argv[argv.index("--") + 1 :] if "--" in argv else []
    args = args or ["-q", "-p", "no:cacheprovider"]
    results: dict[str, str] = {}
    code = run_pytest(
        "embedded (SQLite + fakeredis)",
        {"HAGUKUMI_TEST_SHAPE": "embedded"},
        args,
    )
    results["embedded (SQLite + fakeredis)"] = "passed" if code == 0 else "FAILED"
    required = os.environ.get("HAGUKUMI_REQUIRE_SERVICES") == "1"
    missing = [
        name for name, url in (("PostgreSQL", PG_URL), ("Redis", REDIS_URL)) if not reachable(url)
    ]
    label = "services (PostgreSQL + Redis)"
    if missing:
        why = f"{' and '.join(missing)} not reachable"
        if required:
            print(f"\nHAGUKUMI_REQUIRE_SERVICES=1 but {why}", flush=True)
            results[label] = f"FAILED ({why})"
            code = code or 1
        else:
            results[label] = f"not run ({why})"
    else:
        services_code = run_pytest(
            label,
            {
                "HAGUKUMI_TEST_SHAPE": "services",
                "HAGUKUMI_TEST_PG_URL": PG_URL,
                "HAGUKUMI_TEST_REDIS_SERVER": REDIS_URL,
            },
            args,
        )
        results[label] = "passed" if services_code == 0 else "FAILED"
        code = code or services_code
    print("\nshapes:")
    for name, outcome in results.items():
        print(f"  {name}: {outcome}")
    return code


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
