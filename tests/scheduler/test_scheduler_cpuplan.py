"""The CPU plan as pure functions of the allowed CPUs (1, 2, 4 and 16 of them), and the reader of
the machine (cgroup quotas from a fake /proc and /sys)."""
import os

import pytest

from ringloop.scheduler import (CpuPlan, Machine, format_cpus, parse_cpu_list, plan_cpus, read_machine,
                                sqpoll_auto_info, sqpoll_auto_reason)


def _where(plan):
    """(sqpoll, loop CPUs, SQPOLL CPUs, SQPOLL CPU of each loop)."""
    return plan.sqpoll, plan.loop_cpus, plan.sq_cpus, [plan.sq_cpu_for(i) for i in range(plan.loops)]


# Loops in threads share one SQPOLL thread (sq_threads=1); worker processes need one each.
@pytest.mark.parametrize("cpus, loops, sq_threads, expected", [
    (1, 1, 1, (False, (0,), (), [None])),
    (2, 1, 1, (True, (0,), (1,), [1])),
    (2, 2, 1, (False, (0, 1), (), [None, None])),
    (2, 2, 2, (False, (0, 1), (), [None, None])),
    (4, 1, 1, (True, (0, 1, 2), (3,), [3])),
    (4, 3, 1, (True, (0, 1, 2), (3,), [3, 3, 3])),
    (4, 4, 1, (False, (0, 1, 2, 3), (), [None] * 4)),
    (4, 2, 2, (True, (0, 1), (2, 3), [2, 3])),
    (4, 3, 3, (False, (0, 1, 2, 3), (), [None] * 3)),
    (16, 8, 8, (True, tuple(range(8)), tuple(range(8, 16)), list(range(8, 16)))),
    (16, 9, 9, (False, tuple(range(16)), (), [None] * 9)),
    (16, 15, 1, (True, tuple(range(15)), (15,), [15] * 15)),
    (16, 16, 1, (False, tuple(range(16)), (), [None] * 16)),
])
def test_auto_uses_sqpoll_only_where_every_sqpoll_thread_gets_a_cpu_of_its_own(cpus, loops, sq_threads, expected):
    plan = plan_cpus(range(cpus), loops, sq_threads=sq_threads)
    assert _where(plan) == expected
    assert plan.cpus == tuple(range(cpus)) and plan.loops == loops
    assert not set(plan.loop_cpus) & set(plan.sq_cpus)


@pytest.mark.parametrize("cpus, loops, sq_threads, expected", [
    (1, 1, 1, (True, (0,), (), [None])),                       # nothing to pin it to
    (2, 2, 1, (True, (0,), (1,), [1, 1])),                     # the loops keep one CPU
    (2, 2, 2, (True, (0,), (1,), [1, 1])),                     # two SQPOLL threads share CPU 1
    (4, 3, 3, (True, (0, 1, 2), (3,), [3, 3, 3])),
    (4, 8, 8, (True, (0, 1, 2), (3,), [3] * 8)),
    (16, 12, 12, (True, tuple(range(12)), (12, 13, 14, 15), [12, 13, 14, 15] * 3)),
])
def test_sqpoll_true_always_uses_it_and_keeps_the_loops_off_its_cpus(cpus, loops, sq_threads, expected):
    assert _where(plan_cpus(range(cpus), loops, sq_threads=sq_threads, sqpoll=True)) == expected


@pytest.mark.parametrize("cpus", [1, 2, 4, 16])
def test_sqpoll_false_lets_the_loops_run_everywhere(cpus):
    plan = plan_cpus(range(cpus), 1, sq_threads=1, sqpoll=False)
    assert _where(plan) == (False, tuple(range(cpus)), (), [None])
    assert plan.reason == "SQPOLL off (sqpoll=False)"


def test_the_plan_follows_the_allowed_cpus_not_their_numbering():
    plan = plan_cpus({9, 3, 5, 7}, 2, sq_threads=2)
    assert (plan.cpus, plan.loop_cpus, plan.sq_cpus) == ((3, 5, 7, 9), (3, 5), (7, 9))
    assert plan.reason == "4 CPUs: 2 loops on CPU 3,5, SQPOLL threads on CPU 7,9"


def test_reasons_say_why_in_words():
    assert plan_cpus([0, 1], 2, sq_threads=1).reason == \
        "2 CPUs: no CPU to spare for a SQPOLL thread (2 loops and 1 SQPOLL thread need 3)"
    assert plan_cpus([0], 1, sq_threads=1).reason == \
        "1 CPU: no CPU to spare for a SQPOLL thread (1 loop and 1 SQPOLL thread need 2)"
    assert plan_cpus(range(4), 3, sq_threads=3).reason == \
        "4 CPUs: no CPU to spare for 3 SQPOLL threads (3 loops and 3 SQPOLL threads need 6)"
    assert plan_cpus([0, 1], 1, sq_threads=1).reason == "2 CPUs: 1 loop on CPU 0, the SQPOLL thread on CPU 1"
    assert plan_cpus([0], 1, sq_threads=1, sqpoll=True).reason == \
        "1 CPU: sqpoll=True, the SQPOLL thread shares it with the loops (not pinned)"
    assert plan_cpus(range(4), 3, sq_threads=3, sqpoll=True).reason == \
        "4 CPUs: 3 loops on CPU 0-2, SQPOLL threads on CPU 3, shared by 3"


@pytest.mark.parametrize("quota, sqpoll", [(None, True), (2.0, True), (1.5, False), (1.0, False)])
def test_a_cgroup_quota_counts_only_its_whole_cpus(quota, sqpoll):
    plan = plan_cpus(range(16), 1, sq_threads=1, quota=quota)
    assert plan.sqpoll is sqpoll
    if quota == 1.5:
        assert plan.reason.startswith("16 CPUs with a quota of 1.5 CPUs: no CPU to spare")


@pytest.mark.parametrize("kwargs, error, message", [
    ({"cpus": []}, ValueError, "cpus must not be empty"),
    ({"cpus": "01"}, TypeError, "cpus must be an iterable of CPU numbers, not str"),
    ({"cpus": 4}, TypeError, "cpus must be an iterable of CPU numbers, not int"),
    ({"cpus": [0, 1.0]}, TypeError, "cpus must hold ints, not float"),
    ({"cpus": [True]}, TypeError, "cpus must hold ints, not bool"),
    ({"cpus": [-1]}, ValueError, "cpus holds a negative CPU number: -1"),
    ({"loops": 0}, ValueError, "loops must be at least 1, got 0"),
    ({"loops": "2"}, TypeError, "loops must be an int, not str"),
    ({"sq_threads": 0}, ValueError, "sq_threads must be at least 1, got 0"),
    ({"sq_threads": 3}, ValueError, r"sq_threads must be at most loops \(2\), got 3"),
    ({"sqpoll": "on"}, ValueError, "sqpoll must be True, False or 'auto', got 'on'"),
    ({"sqpoll": None}, TypeError, "sqpoll must be a bool or 'auto', not NoneType"),
    ({"quota": 0}, ValueError, "quota must be a positive number of CPUs, got 0"),
    ({"quota": float("inf")}, ValueError, "quota must be a positive number of CPUs, got inf"),
    ({"quota": "2"}, TypeError, "quota must be a number of CPUs or None, not str"),
])
def test_plan_cpus_rejects_bad_arguments_by_name(kwargs, error, message):
    arguments = {"cpus": [0, 1], "loops": 2, "sq_threads": 1, **kwargs}
    with pytest.raises(error, match=message):
        plan_cpus(arguments.pop("cpus"), arguments.pop("loops"), **arguments)


@pytest.mark.parametrize("cpus, text", [([0], "0"), ([0, 1, 2, 3], "0-3"), ([3, 0, 1, 8, 9, 11], "0-1,3,8-9,11"),
                                        (range(16), "0-15")])
def test_cpu_lists_are_written_and_read_the_linux_way(cpus, text):
    assert format_cpus(cpus) == text
    assert parse_cpu_list(text + "\n") == frozenset(cpus)


def test_sq_cpu_for_is_none_without_a_pinned_sqpoll_thread():
    assert CpuPlan((0,), 1, True, (0,), (), "").sq_cpu_for(0) is None
    assert CpuPlan((0, 1), 1, False, (0, 1), (), "").sq_cpu_for(0) is None


def _fake_machine(tmp_path, cgroup, files):
    (tmp_path / "proc" / "self").mkdir(parents=True)
    (tmp_path / "proc" / "self" / "cgroup").write_text(cgroup)
    for path, text in files.items():
        (tmp_path / "sys" / path).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / "sys" / path).write_text(text)
    return read_machine(probe_sqpoll=False, proc=str(tmp_path / "proc"), sysfs=str(tmp_path / "sys"))


@pytest.mark.parametrize("cgroup, files, quota", [
    ("0::/job\n", {"fs/cgroup/job/cpu.max": "150000 100000\n"}, 1.5),
    ("0::/job\n", {"fs/cgroup/job/cpu.max": "max 100000\n"}, None),
    ("4:cpu,cpuacct:/job\n0::/\n", {"fs/cgroup/cpu,cpuacct/job/cpu.cfs_quota_us": "200000\n",
                                    "fs/cgroup/cpu,cpuacct/job/cpu.cfs_period_us": "100000\n"}, 2.0),
    ("4:cpu,cpuacct:/job\n", {"fs/cgroup/cpu,cpuacct/job/cpu.cfs_quota_us": "-1\n",
                              "fs/cgroup/cpu,cpuacct/job/cpu.cfs_period_us": "100000\n"}, None),
    ("4:memory:/job\n", {}, None),
])
def test_read_machine_finds_the_cgroup_quota(tmp_path, cgroup, files, quota):
    machine = _fake_machine(tmp_path, cgroup, files)
    assert machine.quota == quota
    assert machine.cpus == tuple(sorted(os.sched_getaffinity(0)))
    assert machine.sqpoll_problem is None


def test_info_says_whether_auto_would_use_sqpoll_and_why():
    assert sqpoll_auto_reason(Machine((0, 1), None, None)) == \
        "yes: 2 CPUs: 1 loop on CPU 0, the SQPOLL thread on CPU 1 (up to LoopGroup(threads=1) or serve(workers=1))"
    assert sqpoll_auto_reason(Machine((0,), None, None)) == \
        "no: 1 CPU: no CPU to spare for a SQPOLL thread (1 loop and 1 SQPOLL thread need 2)"
    assert sqpoll_auto_reason(Machine(tuple(range(8)), 3.0, None)).endswith(
        "(up to LoopGroup(threads=2) or serve(workers=1))")
    refused = Machine((0, 1), None, "kernel says no")
    assert sqpoll_auto_info(refused) == {"uses_sqpoll": False, "reason": "SQPOLL is refused here: kernel says no",
                                         "max_group_threads": 0, "max_serve_workers": 0}


def test_info_on_this_machine_probes_sqpoll():
    info = sqpoll_auto_info()
    assert set(info) == {"uses_sqpoll", "reason", "max_group_threads", "max_serve_workers"}
    machine = read_machine()
    expected = plan_cpus(machine.cpus, 1, sq_threads=1, quota=machine.quota).sqpoll and machine.sqpoll_problem is None
    assert info["uses_sqpoll"] is expected
    assert sqpoll_auto_reason().startswith("yes: " if info["uses_sqpoll"] else "no: ")


def test_the_helpers_reject_bad_input_by_name():
    with pytest.raises(ValueError, match="cpus must not be empty"):
        format_cpus([])
    with pytest.raises(TypeError, match="text must be a str, not int"):
        parse_cpu_list(3)
    with pytest.raises(TypeError, match="index must be an int, not str"):
        plan_cpus([0, 1], 1, sq_threads=1).sq_cpu_for("0")
    with pytest.raises(TypeError, match="machine must be a Machine or None, not dict"):
        sqpoll_auto_info({})
