"""Ring.before_submit: work gathered during an iteration, queued at the start of the next wait."""
import pytest

from ringloop._ring.options import RingOptions
from ringloop._ring.ring import Ring


@pytest.fixture
def ring():
    ring = Ring.open(RingOptions(entries=8))
    yield ring
    ring.close()


def test_callbacks_run_once_in_order_before_the_wait_submits(ring):
    calls = []
    done = []

    def queue_a_nop():
        calls.append("nop")
        ring.nop(lambda res, flags: done.append(res))

    def late():
        calls.append("late")

    def first():
        calls.append("first")
        ring.before_submit(late)  # registered while they run: same round

    ring.before_submit(first)
    ring.before_submit(queue_a_nop)
    assert calls == []
    events = ring.wait(5.0)  # the nop queued by the callback is submitted by this wait
    ring.dispatch(events, pytest.fail)
    assert calls == ["first", "nop", "late"]
    assert done == [0]
    ring.dispatch(ring.wait(0), pytest.fail)
    assert calls == ["first", "nop", "late"]  # once only


def test_an_exception_stops_the_round_and_the_rest_run_at_the_next_wait(ring):
    calls = []

    def failing():
        calls.append("failing")
        raise ValueError("boom")

    ring.before_submit(lambda: calls.append("a"))
    ring.before_submit(failing)
    ring.before_submit(lambda: calls.append("b"))
    with pytest.raises(ValueError):
        ring.wait(0)
    assert calls == ["a", "failing"]
    ring.submit()  # may run on another thread than the loop's: leaves them alone
    assert calls == ["a", "failing"]
    ring.wait(0)
    assert calls == ["a", "failing", "b"]


def test_a_closed_ring_never_calls_them(ring):
    calls = []
    ring.before_submit(lambda: calls.append("x"))
    ring.close()
    assert calls == []
