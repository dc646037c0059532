"""The tuning loop: suggest -> deploy -> health -> warm up -> benchmark -> score -> tear down.

One tuner per state directory (a file lock), with a control socket (`status`, `stop`)
that the CLI and the Experiments pane use. Experiments run in worker threads, up to
`parallel` at once when enough GPUs and ports are free. A failed experiment scores as the
worst and the search goes on. After a kill -9, `--resume` removes the half-started
experiment's container, runs that combination again, and skips every finished one.
"""

from __future__ import annotations

import fcntl
import math
import os
import threading
import time
from pathlib import Path
from typing import Any, Callable

from servedeck.backends.ssh.ports import NoFreePort, PortAllocator
from servedeck.orchestrator.control import ControlServer
from servedeck.tuner import bench_builtin, bench_genai, metrics, results, scoring, strategies
from servedeck.tuner.deploy import ServerFailed, Stopped, warm_up
from servedeck.tuner.gpus import GPUPool, gpus_needed
from servedeck.tuner.settings import TunerSettings
from servedeck.tuner.state import (ACTIVE, BENCHMARKING, FAILED, PENDING, SKIPPED, STARTING, SUCCESS, WARMING_UP,
                                   Experiment, TunerState, TunerStore)
from servedeck.tuner.task import Task


OME_BENCHMARK_JOB = "ome-benchmarkjob"


class AlreadyRunning(Exception):
    """Another tuner holds this state directory."""


class Refused(Exception):
    """The request would lose work (an unfinished tuning exists) or cannot be met."""


def state_file(settings: TunerSettings, task_name: str) -> Path:
    return settings.state_path() / f"{task_name}.json"


def log_file(settings: TunerSettings, task_name: str) -> Path:
    return settings.state_path() / f"{task_name}.log"


class Tuner:
    def __init__(self, task: Task, settings: TunerSettings, deployer: Any, *, task_file: str = "",
                 mode: str = "docker", parallel: int = 1, resume: bool = False, fresh: bool = False,
                 echo: Callable[[str], None] | None = None) -> None:
        self.task, self.settings, self.deployer = task, settings, deployer
        self.task_file, self.mode, self.parallel = task_file, mode, max(1, parallel)
        self.resume, self.fresh, self.echo = resume, fresh, echo
        self.store = TunerStore(state_file(settings, task.task_name))
        self.lock = threading.RLock()
        self.stop_event = threading.Event()
        self.gpus = GPUPool(settings.gpus)
        lo, hi = settings.port_range
        self.ports = PortAllocator([(lo, hi)], host="")
        self.state: TunerState | None = None
        self.strategy: strategies.Strategy | None = None
        self._lock_fd: int | None = None
        self._log_handle = None
        self.control: ControlServer | None = None
        self.cluster_gpus = bool(getattr(deployer, "schedules_gpus", False))  # OME: the cluster places GPUs

    # -- lifecycle ------------------------------------------------------------------
    def _acquire(self) -> None:
        path = self.settings.state_path()
        path.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd = os.open(path / "tuner.lock", os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise AlreadyRunning(f"another tuner runs with state dir {path} (see `servedeck tune status`)") from None
        os.ftruncate(fd, 0)
        os.write(fd, str(os.getpid()).encode())
        self._lock_fd = fd

    def _release(self) -> None:
        if self._lock_fd is not None:
            os.close(self._lock_fd)
            self._lock_fd = None

    def log(self, line: str) -> None:
        stamped = time.strftime("%H:%M:%S ") + line
        with self.lock:
            if self._log_handle is not None:
                self._log_handle.write(stamped + "\n")
                self._log_handle.flush()
        if self.echo:
            self.echo(stamped)

    def save(self) -> None:
        with self.lock:
            assert self.state is not None
            self.store.save(self.state)

    def _load_state(self) -> TunerState:
        existing = self.store.load()
        now = time.time()
        opt = self.task.optimization
        if existing is not None and self.resume:
            state = existing
            state.resumes += 1
            state.status, state.session_started, state.pid, state.parallel = "running", now, os.getpid(), self.parallel
            for e in state.experiments:
                if e.status in ACTIVE or e.status == SKIPPED:
                    if e.container:
                        self.log(f"resume: exp{e.id} was {e.status}; removing {e.container} and running it again")
                        self.deployer.remove(e.container)
                    e.status, e.phase_since = PENDING, now
            return state
        if existing is not None and existing.status != "finished" and not self.fresh:
            done = sum(e.finished for e in existing.experiments)
            raise Refused(f"an unfinished tuning of {self.task.task_name} exists ({done} of {existing.budget} done): "
                          "pass --resume to continue it or --fresh to start over")
        return TunerState(task_name=self.task.task_name, task_file=self.task_file, mode=self.mode,
                          strategy=opt.kind, objective=opt.objective, pid=os.getpid(), parallel=self.parallel,
                          started_at=now, session_started=now)

    def _choose_runner(self) -> str:
        wanted = self.settings.benchmark.runner
        if wanted == "benchmarkjob":
            if not hasattr(self.deployer, "benchmark"):
                raise Refused("benchmark runner benchmarkjob needs --mode ome")
            return OME_BENCHMARK_JOB
        exe = bench_genai.executable(self.settings.benchmark.genai_bench)
        if wanted == "genai-bench" and exe is None:
            raise Refused("benchmark runner genai-bench is not installed (pip install 'servedeck[genai-bench]')")
        if wanted == "builtin" or exe is None:
            return bench_builtin.RUNNER
        return bench_genai.RUNNER

    def request_stop(self) -> None:
        self.stop_event.set()

    def handle(self, request: dict[str, Any]) -> dict[str, Any]:
        cmd = request.get("cmd")
        if cmd == "status":
            with self.lock:
                return {"ok": True, "status": results.status_doc(self.state, running=True)} if self.state else \
                    {"ok": False, "message": "starting"}
        if cmd == "stop":
            self.request_stop()
            return {"ok": True, "message": "stopping: running experiments are torn down, the rest stays pending"}
        return {"ok": False, "message": f"unknown command {cmd!r} (status, stop)"}

    def run(self) -> TunerState:
        self._acquire()
        try:
            self.settings.state_path().mkdir(parents=True, exist_ok=True)
            self._log_handle = open(log_file(self.settings, self.task.task_name), "a", encoding="utf-8")
            self.state = self._load_state()
            self.state.benchmark_runner = self._choose_runner()
            self.strategy = strategies.make(self.task)
            self.state.budget = self.strategy.budget
            for e in self.state.experiments:
                if e.finished:
                    self.strategy.tell(e.parameters, e.score_value)
            self._sweep_strays()
            self.save()
            (self.settings.state_path() / "current").write_text(self.task.task_name)
            self.control = ControlServer(self.settings.socket_path(), self.handle)
            self.control.start()
            self.log(f"tuning {self.task.task_name}: {self.state.strategy}, {self.state.budget} experiments at most, "
                     f"runner {self.state.benchmark_runner}, parallel {self.parallel}")
            self._loop()
            with self.lock:
                stopped = self.stop_event.is_set() and any(not e.finished for e in self.state.experiments) \
                    or (self.stop_event.is_set() and len(self.state.experiments) < self.state.budget)
                self.state.close_session("stopped" if stopped else "finished")
                self.save()
                path = results.write(self.state, self.settings.results_path())
            self.log(f"{self.state.status}: results in {path}")
            return self.state
        finally:
            if self.control is not None:
                self.control.stop()
            if self._log_handle is not None:
                self._log_handle.close()
                self._log_handle = None
            self._release()

    def _sweep_strays(self) -> None:
        """Containers of this task left by a killed tuner (none of ours runs yet)."""
        lister = getattr(self.deployer, "containers", None)
        if lister is None:
            return
        finished = {e.container for e in self.state.experiments if e.finished}
        prefix = self.deployer.name_for(self.task, 0)[:-1]  # "...-exp"
        for name in lister(self.task.task_name):
            if name.startswith(prefix) and name not in finished:
                self.log(f"removing stray container {name}")
                self.deployer.remove(name)
        for name in finished:  # finished experiments' containers are gone unless a kill came in between
            self.deployer.remove(name)

    # -- the loop -----------------------------------------------------------------------
    def _next(self) -> Experiment | None:
        """A pending (resumed) experiment, else a new one from the strategy."""
        assert self.state is not None and self.strategy is not None
        for e in self.state.experiments:
            if e.status == PENDING:
                return e
        params = self.strategy.suggest([e.parameters for e in self.state.experiments])
        if params is None:
            return None
        e = Experiment(id=len(self.state.experiments) + 1, parameters=params)
        self.state.experiments.append(e)
        return e

    def _loop(self) -> None:
        threads: dict[int, threading.Thread] = {}
        done = threading.Condition(self.lock)
        exhausted = False
        while True:
            with self.lock:
                for exp_id in [i for i, t in threads.items() if not t.is_alive()]:
                    threads.pop(exp_id)
                while not self.stop_event.is_set() and not exhausted and len(threads) < self.parallel:
                    e = self._next()
                    if e is None:
                        exhausted = True
                        break
                    need = 0 if self.cluster_gpus else gpus_needed(self.task, self.settings, e.parameters)
                    if need > self.gpus.total():
                        self._finish(e, FAILED, error=f"needs {need} GPUs; this host has {self.gpus.total()}")
                        continue
                    gpus = self.gpus.acquire(need)
                    if gpus is None:
                        break  # it stays pending until a running experiment gives its GPUs back
                    try:
                        port = self.ports.allocate()
                    except NoFreePort as exc:
                        self.gpus.release(gpus)
                        if not threads:
                            self._finish(e, FAILED, error=str(exc))
                            continue
                        break
                    e.status, e.phase_since = STARTING, time.time()  # claimed before the thread starts
                    t = threading.Thread(target=self._experiment, args=(e, port, gpus, done),
                                         name=f"exp{e.id}", daemon=True)
                    threads[e.id] = t
                    t.start()
                if not threads and (exhausted or self.stop_event.is_set()):
                    break
                done.wait(timeout=0.5)
        with self.lock:
            for e in self.state.experiments:
                if e.status == PENDING and self.stop_event.is_set():
                    e.status = SKIPPED

    def _phase(self, e: Experiment, status: str) -> None:
        if self.stop_event.is_set():
            raise Stopped()
        with self.lock:
            e.status, e.phase_since = status, time.time()
            self.save()
        self.log(f"exp{e.id} {status}")

    def _finish(self, e: Experiment, status: str, *, error: str = "", log_tail: str = "",
                score: scoring.Score | None = None) -> None:
        """Record the outcome (caller holds or takes the lock), tell the strategy, save, write results."""
        with self.lock:
            e.status, e.phase_since, e.finished_at = status, time.time(), time.time()
            e.error, e.log_tail = error, log_tail or e.log_tail
            if score is not None:
                e.base_score = score.base if math.isfinite(score.base) else None
                e.score = score.value if math.isfinite(score.value) else None
                e.slo_met = score.slo_met if self.task.slo is not None else None
                e.slo_violations = [vars(v) for v in score.violations]
                if score.hard_failed:
                    e.error = "SLO hard fail: " + ", ".join(f"{v.metric} {v.actual:.4g} > {v.threshold:.4g}"
                                                            for v in score.violations if v.hard)
            if status in (SUCCESS, FAILED):
                assert self.strategy is not None
                self.strategy.tell(e.parameters, e.score_value)
            self.save()
            results.write(self.state, self.settings.results_path())
        self.log(f"exp{e.id} {status}" + (f" score {e.score:.4g}" if e.score is not None else "")
                 + (f": {e.error}" if e.error else ""))

    def _experiment(self, e: Experiment, port: int, gpus: list[int], done: threading.Condition) -> None:
        t0 = time.monotonic()
        timings: dict[str, float] = {}
        name = self.deployer.name_for(self.task, e.id)
        try:
            with self.lock:
                e.container, e.port, e.gpus, e.started_at = name, port, gpus, time.time()
                e.attempts += 1
                e.error, e.metrics, e.score, e.slo_met = "", {}, None, None
            self._phase(e, STARTING)  # recorded before the container exists
            deployment = self.deployer.start(self.task, e.id, e.parameters, port, gpus)
            timings["create_s"] = time.monotonic() - t0
            t1 = time.monotonic()
            self.deployer.wait_healthy(deployment, float(self.task.optimization.timeout_per_iteration),
                                       self.stop_event.is_set)
            timings["health_wait_s"] = time.monotonic() - t1
            self._phase(e, WARMING_UP)
            t2 = time.monotonic()
            model_name = self.task.benchmark.model_name or self.task.model.ident
            warm_up(deployment.base_url, model_name, self.settings.benchmark.warmup_requests)
            timings["warmup_s"] = time.monotonic() - t2
            self._phase(e, BENCHMARKING)
            t3 = time.monotonic()
            folder = self._benchmark(e, deployment)
            timings["benchmark_s"] = time.monotonic() - t3
            if self.stop_event.is_set():
                raise Stopped()
            found, files = metrics.read_folder(folder)
            with self.lock:
                e.metrics, e.result_files, e.bench_dir = found, files, str(folder)
            tail = self.deployer.log_tail(name)
            if not files or not found.get("total_completed_requests"):
                self._finish(e, FAILED, error="the benchmark produced no completed requests", log_tail=tail)
            else:
                self._finish(e, SUCCESS, log_tail=tail,
                             score=scoring.score(found, self.task.optimization.objective, self.task.slo))
        except Stopped:
            self._finish(e, SKIPPED, error="stopped by the operator", log_tail=self.deployer.log_tail(name))
        except ServerFailed as exc:
            self._finish(e, FAILED, error=str(exc), log_tail=exc.log_tail or self.deployer.log_tail(name))
        except Exception as exc:  # one broken experiment must not end the search
            self._finish(e, FAILED, error=f"{type(exc).__name__}: {exc}", log_tail=self.deployer.log_tail(name))
        finally:
            t4 = time.monotonic()
            try:
                self.deployer.remove(name)
            except Exception as exc:
                self.log(f"exp{e.id}: removing {name} failed: {exc}")
            timings["teardown_s"] = time.monotonic() - t4
            timings["total_s"] = time.monotonic() - t0
            self.ports.release(port)
            self.gpus.release(gpus)
            with self.lock:
                e.timings = {k: round(v, 4) for k, v in timings.items()}
                self.save()
                done.notify_all()

    def _benchmark(self, e: Experiment, deployment: Any) -> Path:
        base_url = deployment.base_url
        folder = self.settings.results_path() / "benchmark_results" / f"{self.task.task_name}-exp{e.id}"
        if folder.exists():  # a re-run (resume) starts from an empty folder
            for old in folder.glob("*"):
                if old.is_file():
                    old.unlink()
        bench = self.task.benchmark
        e.runner = self.state.benchmark_runner
        if e.runner == OME_BENCHMARK_JOB:
            self.deployer.benchmark(self.task, e.id, deployment, folder, float(self.task.optimization.timeout_per_iteration),
                                    self.stop_event.is_set, self.log)
        elif e.runner == bench_genai.RUNNER:
            exe = bench_genai.executable(self.settings.benchmark.genai_bench)
            tokenizer = self.settings.benchmark.tokenizer_dir or bench.model_tokenizer or "gpt2"
            code = bench_genai.run(exe, base_url, bench, folder, tokenizer,
                                   float(self.task.optimization.timeout_per_iteration), log=self.log)
            if code != 0:
                self.log(f"exp{e.id}: genai-bench exited {code}; reading what it wrote")
        else:
            bench_builtin.run(base_url, bench, folder, seed=e.id, log=self.log, stop=self.stop_event.is_set)
        return folder
