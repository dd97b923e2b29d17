"""Every runnable example in docs/examples runs, exits 0 and prints what its .out file says.

An example's ``NAME.out`` holds its expected output; ``{*}`` in a line
matches anything (a port number, a duration, a thread id), the rest must
match exactly.  So an example that stops demonstrating what its page says
fails here, not only one that crashes.
"""
import re
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = sorted((Path(__file__).resolve().parents[2] / "docs" / "examples").glob("*.py"))


def _line_pattern(expected: str) -> re.Pattern:
    return re.compile("".join(".*" if part == "{*}" else re.escape(part) for part in re.split(r"(\{\*\})", expected)))


def test_there_are_examples():
    assert len(EXAMPLES) >= 5


def test_every_example_has_its_expected_output():
    assert [path.name for path in EXAMPLES if not path.with_suffix(".out").exists()] == []


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda path: path.name)
def test_example_prints_what_it_demonstrates(example):
    done = subprocess.run([sys.executable, str(example)], capture_output=True, text=True, timeout=60,
                          cwd=example.parent)
    assert done.returncode == 0, done.stderr
    expected = example.with_suffix(".out").read_text().splitlines()
    actual = done.stdout.splitlines()
    assert len(actual) == len(expected), done.stdout
    for number, (want, got) in enumerate(zip(expected, actual), 1):
        assert _line_pattern(want).fullmatch(got), f"line {number}: expected {want!r}, got {got!r}"
