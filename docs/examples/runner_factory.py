"""Three ways to get a ringloop loop without the policy system, plus install()."""
import asyncio
import warnings

import ringloop


async def which():
    await asyncio.sleep(0)
    return type(asyncio.get_running_loop()).__name__


# 1. asyncio.Runner with a loop factory (Python 3.11+).
with asyncio.Runner(loop_factory=ringloop.new_event_loop) as runner:
    print("Runner:", runner.run(which()))

# 2. ringloop.run(), with loop options and asyncio's debug mode.
print("run(debug=True):", ringloop.run(which(), debug=True, entries=64))

# 3. A loop you manage yourself.
loop = ringloop.new_event_loop()
try:
    print("new_event_loop:", loop.run_until_complete(which()))
finally:
    loop.close()

# 4. install(): sets an event loop policy, so plain asyncio.run() uses ringloop.
#    Deprecated from Python 3.14; RuntimeError where Python has no policies.
try:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        ringloop.install()
    try:
        print("install + asyncio.run:", asyncio.run(which()))
    finally:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            asyncio.set_event_loop_policy(None)  # back to asyncio's default
except RuntimeError as exc:
    print("install() is not available here:", exc)
