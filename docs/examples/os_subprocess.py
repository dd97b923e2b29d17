"""Subprocesses on ringloop: pipes are ring transports, exits are seen through a pidfd."""
import asyncio
import sys

import ringloop


async def main():
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-c", "import sys; sys.stdout.write(sys.stdin.read().upper())",
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
    )
    out, _ = await proc.communicate(b"shouted through a pipe")
    print(out.decode(), "| exit code", proc.returncode)

    shells = [await asyncio.create_subprocess_shell(f"exit {n}") for n in range(5)]
    print("exit codes:", await asyncio.gather(*(p.wait() for p in shells)))

    sleeper = await asyncio.create_subprocess_exec("sleep", "60")
    sleeper.terminate()
    print("terminated:", await sleeper.wait())


ringloop.run(main())
