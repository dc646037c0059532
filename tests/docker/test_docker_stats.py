"""CPU % and memory from Docker's stats documents, computed as `docker stats` does."""

from __future__ import annotations

from servedeck.backends.docker.stats import StatsSampler, mem_bytes


def doc(total: int, system: int, pre_total: int | None = None, pre_system: int | None = None, **mem):
    d = {"cpu_stats": {"cpu_usage": {"total_usage": total}, "system_cpu_usage": system, "online_cpus": 2},
         "memory_stats": {"usage": 100_000, "stats": mem}}
    if pre_total is not None:
        d["precpu_stats"] = {"cpu_usage": {"total_usage": pre_total}, "system_cpu_usage": pre_system}
    return d


def test_first_sample_uses_precpu_then_deltas_between_one_shot_samples():
    answers = {False: doc(200, 2000, 100, 1000), True: doc(500, 3000)}
    asked = []

    def fetch(cid, one_shot):
        asked.append(one_shot)
        return answers[one_shot]

    sampler = StatsSampler()
    first = sampler.sample(fetch, ["c1"])["c1"]
    assert first.cpu_percent == 20.0  # 100/1000 of the machine, on 2 CPUs
    second = sampler.sample(fetch, ["c1"])["c1"]
    assert second.cpu_percent == 60.0 and asked == [False, True]
    assert sampler.sample(fetch, []) == {}  # nothing running: history dropped
    sampler.sample(fetch, ["c1"])
    assert asked[-1] is False


def test_failures_give_no_usage_and_memory_excludes_page_cache():
    def broken(cid, one_shot):
        raise ConnectionError("gone")

    assert StatsSampler().sample(broken, ["c1"]) == {}
    assert mem_bytes(doc(1, 1, inactive_file=30_000)) == 70_000  # cgroup v2
    assert mem_bytes(doc(1, 1, cache=40_000)) == 60_000  # cgroup v1
    assert mem_bytes({"memory_stats": {}}) is None
