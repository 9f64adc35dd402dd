"""Top costs of a py-spy raw profile (collapsed stacks), idle time left out.

.venv/bin/python bench/profile_summary.py PROFILE.raw [TOP]
"""

from __future__ import annotations

import re
import sys
from collections import Counter
from pathlib import Path

# Frames where the event loop waits for I/O: samples ending here are idle.
IDLE = re.compile(r"\b(select|poll|epoll_wait|_run_once|run_forever)\b|\(uvloop|wait \(threading")


def summarize(path: Path, top: int) -> str:
    self_time: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    busy = 0
    for line in path.read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        frames = [f for f in stack.split(";") if f]
        count = int(count_text)
        if not frames or IDLE.search(frames[-1]):
            continue
        busy += count
        self_time[_short(frames[-1])] += count
        for frame in {_short(f) for f in frames}:
            inclusive[frame] += count
    lines = [f"busy samples: {busy}", "", "self %  function"]
    lines += [f"{100 * n / busy:5.1f}  {f}" for f, n in self_time.most_common(top)]
    lines += ["", "incl %  function"]
    lines += [f"{100 * n / busy:5.1f}  {f}" for f, n in inclusive.most_common(top * 2)]
    return "\n".join(lines)


def _short(frame: str) -> str:
    """'func (path/to/module.py:12)' -> 'func (module.py)'."""
    match = re.match(r"(.*) \((.*?):\d+\)$", frame)
    if not match:
        return frame
    name, path = match.groups()
    return f"{name} ({Path(path).name})"


if __name__ == "__main__":
    print(summarize(Path(sys.argv[1]), int(sys.argv[2]) if len(sys.argv) > 2 else 25))
