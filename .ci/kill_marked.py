"""End the processes whose command line contains a marker (and their children), by pid.

Used instead of `ray stop`, which ends every Ray on the machine: a Ray head started with
its own --temp-dir names that folder in its processes' command lines. Its client server
does not, and outlives the head as an orphan, but it names the head's GCS address as a
whole argument (`--address=127.0.0.1:PORT`): `--argument-ends` matches a marker only at
the end of one argument, so port 6379 does not match 63790.
Usage: python .ci/kill_marked.py [--argument-ends] MARKER
"""

from __future__ import annotations

import os
import signal
import sys
import time


def process_table() -> dict[int, tuple[bytes, int]]:
    """pid -> (command line, parent pid) for every visible process."""
    table = {}
    for name in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{name}/cmdline", "rb") as handle:
                cmd = handle.read()
            with open(f"/proc/{name}/stat") as handle:
                ppid = int(handle.read().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        table[int(name)] = (cmd, ppid)
    return table


def matches(cmd: bytes, marker: bytes, argument_ends: bool) -> bool:
    """Whether a NUL-separated command line holds ``marker`` (at an argument's end)."""
    if argument_ends:
        return any(arg.endswith(marker) for arg in cmd.split(b"\0"))
    return marker in cmd


def main(marker: str, argument_ends: bool = False) -> int:
    table = process_table()
    ours = {pid for pid, (cmd, _) in table.items()
            if matches(cmd, marker.encode(), argument_ends)}
    while True:
        children = {pid for pid, (_, ppid) in table.items() if ppid in ours} - ours
        if not children:
            break
        ours |= children
    ours.discard(os.getpid())
    for sig in (signal.SIGTERM, signal.SIGKILL):
        for pid in ours:
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                pass
        deadline = time.time() + 8
        while sig == signal.SIGTERM and time.time() < deadline and any(
                os.path.exists(f"/proc/{pid}") for pid in ours):
            time.sleep(0.2)
    print(f"ended {len(ours)} processes")
    return 0


if __name__ == "__main__":
    args = sys.argv[1:]
    ends = args[:1] == ["--argument-ends"]
    sys.exit(main(args[-1], argument_ends=ends))
