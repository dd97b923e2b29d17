"""Signal handlers on ringloop: they run in the loop, not in signal context."""
import asyncio
import os
import signal

import ringloop


async def main():
    loop = asyncio.get_running_loop()
    got = loop.create_future()
    loop.add_signal_handler(signal.SIGUSR1, lambda tag: got.set_result(f"SIGUSR1 handled in the loop ({tag})"), "hello")
    os.kill(os.getpid(), signal.SIGUSR1)
    print(await got)
    print("removed:", loop.remove_signal_handler(signal.SIGUSR1))
    try:
        loop.add_signal_handler(signal.SIGKILL, print)
    except RuntimeError as exc:
        print("SIGKILL:", exc)


ringloop.run(main())
