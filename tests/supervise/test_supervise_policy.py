"""The policy pieces on their own: restart types, the intensity window, the backoff curve."""
import pytest

from ringloop.supervise import Restart
from ringloop.supervise.policy import Backoff, Intensity


@pytest.mark.parametrize("policy, after_return, after_failure", [
    (Restart.PERMANENT, True, True),
    (Restart.TRANSIENT, False, True),
    (Restart.TEMPORARY, False, False),
])
def test_restart_types_mean_what_otp_means(policy, after_return, after_failure):
    assert policy.restarts(failed=False) is after_return
    assert policy.restarts(failed=True) is after_failure
    assert Restart(policy.value) is policy


def test_intensity_allows_max_restarts_within_any_period():
    intensity = Intensity(max_restarts=2, period=10.0)
    assert intensity.allow(0.0) and intensity.allow(5.0)
    assert not intensity.allow(9.9)  # a third within 10 s of the first
    assert intensity.allow(10.0)  # the first one is now 10 s old: out of the window
    assert not intensity.allow(14.0)
    assert intensity.allow(15.0)
    intensity.reset()
    assert intensity.allow(15.1) and intensity.allow(15.2)
    assert "more than 2 restarts in 10 s" == intensity.describe()


def test_zero_restarts_means_the_first_restart_is_too_many():
    assert not Intensity(max_restarts=0, period=1.0).allow(0.0)


def test_backoff_doubles_up_to_its_maximum():
    backoff = Backoff(0.01, 0.05)
    assert [backoff.delay(n) for n in range(5)] == [0.01, 0.02, 0.04, 0.05, 0.05]
    assert backoff.delay(10 ** 6) == 0.05  # no overflow, however long a worker crash-loops
