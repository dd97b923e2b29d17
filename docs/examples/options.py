"""Loop options: the setup flags each choice gets, and how bad options are refused."""
import asyncio

import ringloop


def show(label, **options):
    try:
        loop = ringloop.new_event_loop(**options)
    except RuntimeError as exc:  # io_uring refused this combination here
        print(f"{label:<28} not available: {exc}")
        return
    try:
        print(f"{label:<28} {' '.join(loop.ring_setup_flags)}")
        loop.run_until_complete(loop.ring_nop())  # the ring works
    finally:
        loop.close()


show("default")
show("entries=64", entries=64)
show("single_issuer=False", single_issuer=False)
show("sqpoll=True", sqpoll=True)
show("sqpoll=True, sq_idle_ms=50", sqpoll=True, sq_idle_ms=50)

# A second SQPOLL loop can share the first one's kernel polling thread.
first = ringloop.new_event_loop(sqpoll=True)
try:
    show("sqpoll=True, attach_to=...", sqpoll=True, attach_to=first)
finally:
    first.close()

# Wrong types raise TypeError and bad values ValueError, naming the option.
for bad in ({"entries": 0}, {"entries": "256"}, {"sqpoll": 1}, {"sq_idle_ms": 10}):
    try:
        ringloop.new_event_loop(**bad)
    except (TypeError, ValueError) as exc:
        print(f"{bad!s:<28} {type(exc).__name__}: {exc}")
