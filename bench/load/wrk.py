"""The HTTP load generator: ``wrk`` when installed (the bench never installs it), and its output parser."""
from __future__ import annotations

import math
import re
import shutil

from .generator import GRACE_SECONDS, Address, LoadError, LoadResult, run_pinned

_TIME_UNITS = {"us": 1.0, "ms": 1e3, "s": 1e6, "m": 60e6, "h": 3600e6}
_SIZE_UNITS = {"B": 1, "KB": 1024, "MB": 1024**2, "GB": 1024**3, "TB": 1024**4}  # wrk's binary prefixes


def find_wrk() -> str | None:
    """The path of ``wrk`` on PATH, or None."""
    return shutil.which("wrk")


def _time_us(text: str) -> float:
    number, unit = re.fullmatch(r"([\d.]+)(us|ms|s|m|h)", text).groups()  # type: ignore[union-attr]
    return float(number) * _TIME_UNITS[unit]


def _bytes(text: str) -> float:
    number, unit = re.fullmatch(r"([\d.]+)([KMGT]?B)", text).groups()  # type: ignore[union-attr]
    return float(number) * _SIZE_UNITS[unit]


def parse_wrk(text: str) -> LoadResult:
    """Parse the report of ``wrk --latency``; raises LoadError when a needed line is missing.

    Throughput is ``Requests/sec``; MB/s is ``Transfer/sec`` in 10^6 bytes
    (wrk prints binary prefixes); p50/p99 come from the latency
    distribution; errors are the socket errors plus non-2xx/3xx responses.
    """
    def find(pattern: str) -> re.Match[str]:
        match = re.search(pattern, text, re.MULTILINE)
        if match is None:
            raise LoadError(f"wrk output has no line matching {pattern!r}: {text.strip()[-300:]!r}")
        return match

    total = find(r"^\s*(\d+) requests in ([\d.]+\w+), ")
    errors = sum(int(n) for n in re.findall(r"(?:connect|read|write|timeout) (\d+)",
                                             _first_line(r"^\s*Socket errors:.*$", text)))
    non_2xx = re.search(r"^\s*Non-2xx or 3xx responses: (\d+)", text, re.MULTILINE)
    rate = float(find(r"^Requests/sec:\s+([\d.]+)").group(1))
    return LoadResult(
        ops=int(total.group(1)), ops_total=int(total.group(1)), seconds=_time_us(total.group(2)) / 1e6,
        ops_per_s=rate, mb_per_s=_bytes(find(r"^Transfer/sec:\s+(\S+)").group(1)) / 1e6,
        p50_us=_time_us(find(r"^\s+50%\s+(\S+)").group(1)), p99_us=_time_us(find(r"^\s+99%\s+(\S+)").group(1)),
        errors=errors + (int(non_2xx.group(1)) if non_2xx else 0),
        raw={"output": text},
    )


def _first_line(pattern: str, text: str) -> str:
    """The first line of ``text`` matching ``pattern``, or "" when none does."""
    match = re.search(pattern, text, re.MULTILINE)
    return match.group(0) if match else ""


def run_wrk(wrk: str, address: Address, *, connections: int, seconds: float, cpu: int | None) -> LoadResult:
    """``wrk`` with one thread and ``connections`` keep-alive connections on ``GET /`` for ``seconds``.

    wrk takes whole seconds, so ``seconds`` is rounded up (at least 1).
    """
    if address.port is None:
        raise LoadError("wrk speaks TCP only")
    duration = max(1, math.ceil(seconds))
    argv = [wrk, "-t1", f"-c{connections}", f"-d{duration}s", "--latency", f"http://127.0.0.1:{address.port}/"]
    return parse_wrk(run_pinned(argv, cpu, duration + GRACE_SECONDS))
