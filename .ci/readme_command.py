"""Read the README's two commands (the lines after `# 1.` and `# 2.` in its first bash block),
or check that a log of command 1 holds the README's sample output (the fenced block after
`<!-- command-1-output -->`), so CI runs exactly what users read."""

from __future__ import annotations

import re
import sys
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"


def command(number: str) -> str:
    text = README.read_text(encoding="utf-8")
    match = re.search(rf"^# {number}\..*\n(.+)$", text, re.MULTILINE)
    if match is None:
        sys.exit(f"README.md has no '# {number}. ...' comment followed by its command")
    return match.group(1).strip()


def sample_output() -> list[str]:
    text = README.read_text(encoding="utf-8")
    match = re.search(r"<!-- command-1-output -->\s*```\w*\n(.*?)```", text, re.DOTALL)
    if match is None:
        sys.exit("README.md has no fenced block after <!-- command-1-output -->")
    return [line.rstrip() for line in match.group(1).strip().splitlines()]


def check_output(log: Path) -> None:
    printed = [line.rstrip() for line in log.read_text(encoding="utf-8").splitlines()]
    expected = sample_output()
    for start in range(len(printed) - len(expected) + 1):
        if printed[start:start + len(expected)] == expected:
            print(f"command 1 printed the README's table ({len(expected)} lines)")
            return
    sys.exit("command 1 did not print the README's table:\n" + "\n".join(expected)
             + "\n--- it printed ---\n" + "\n".join(printed[-30:]))


if __name__ == "__main__":
    if sys.argv[1] == "--check-output":
        check_output(Path(sys.argv[2]))
    else:
        print(command(sys.argv[1]))
