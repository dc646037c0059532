"""OME mode: one `InferenceService` (ome.io/v1beta1) per experiment, through the official
`kubernetes` client against the cluster in the kubeconfig.

Named `<task>-exp<N>` with the real tool's labels (`autotuner.io/task`,
`autotuner.io/experiment-id`), the parameters as engine runner args (`--flag=value`),
`nvidia.com/gpu` requests for the GPU count (the cluster schedules GPUs, not us). The
namespace is created when missing. Readiness is watched (a watch stream, not a 10 s poll)
until the `Ready` condition is True; a Ready=False with a failure reason fails the
experiment with the engine's message. Benchmarks run as an OME `BenchmarkJob` when
settings ask for it, waited for until `status.state == "Completed"` (OME's word; the real
tool waits for "Complete" and never sees it) or `Failed`; otherwise the built-in runner
or genai-bench talk to `status.url`.
"""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Any, Callable

from servedeck.tuner.deploy import Deployment, ServerFailed, Stopped
from servedeck.tuner.gpus import gpus_needed
from servedeck.tuner.settings import TunerSettings
from servedeck.tuner.task import Task

GROUP, VERSION = "ome.io", "v1beta1"
WATCH_SLICE_S = 5  # a watch is re-opened this often, so a stop request is seen quickly


def isvc_name(task: Task, exp_id: int) -> str:
    return re.sub(r"[^a-z0-9-]", "-", f"{task.task_name}-exp{exp_id}".lower()).strip("-")[:63]


def engine_args(task: Task, params: dict[str, Any]) -> list[str]:
    out = []
    for name, value in params.items():
        flag = "--" + task.flag(name)
        if value is True:
            out.append(flag)
        elif value is not False and value is not None:
            out.append(f"{flag}={value}")
    return out


def inference_service(task: Task, exp_id: int, params: dict[str, Any], gpus: int) -> dict[str, Any]:
    resources = {"limits": {"nvidia.com/gpu": gpus}, "requests": {"nvidia.com/gpu": gpus}}
    spec: dict[str, Any] = {
        "model": {"name": task.model.ident},
        "engine": {"minReplicas": 1, "maxReplicas": 1,
                   "runner": {"name": "ome-container", "args": engine_args(task, params), "resources": resources}},
    }
    if task.base_runtime:
        spec["runtime"] = {"name": task.base_runtime, "apiGroup": GROUP, "kind": "ClusterServingRuntime"}
    storage = task.storage or {}
    annotations = {}
    if storage.get("type") == "pvc":
        annotations = {"ome.io/storage-type": "pvc", "ome.io/pvc-name": str(storage.get("pvc_name", ""))}
    return {"apiVersion": f"{GROUP}/{VERSION}", "kind": "InferenceService",
            "metadata": {"name": isvc_name(task, exp_id), "namespace": task.model.namespace,
                         "labels": {"autotuner.io/task": task.task_name, "autotuner.io/experiment-id": str(exp_id)},
                         "annotations": annotations},
            "spec": spec}


def benchmark_job(task: Task, exp_id: int, isvc: str, output_uri: str) -> dict[str, Any]:
    b = task.benchmark
    return {"apiVersion": f"{GROUP}/{VERSION}", "kind": "BenchmarkJob",
            "metadata": {"name": f"{isvc_name(task, exp_id)[:50]}-bench", "namespace": task.model.namespace,
                         "labels": {"autotuner.io/task": task.task_name, "autotuner.io/experiment-id": str(exp_id)}},
            "spec": {"podOverride": {"image": "kllambda/genai-bench:v251014"},
                     "endpoint": {"inferenceService": {"name": isvc, "namespace": task.model.namespace}},
                     "task": b.task, "trafficScenarios": b.traffic_scenarios, "numConcurrency": b.num_concurrency,
                     "maxTimePerIteration": b.max_time_per_iteration, "maxRequestsPerIteration": b.max_requests_per_iteration,
                     "additionalRequestParams": {k: str(v) for k, v in b.additional_params.items()},
                     "outputLocation": {"storageUri": output_uri}}}


def ready_state(obj: dict[str, Any]) -> tuple[str, str]:
    """('ready' | 'failed' | 'pending', message) from an InferenceService's status."""
    status = obj.get("status") or {}
    for cond in status.get("conditions") or []:
        if cond.get("type") == "Ready":
            if cond.get("status") == "True":
                return "ready", ""
            reason = cond.get("reason") or ""
            if reason and reason not in ("Initializing", "ComponentNotReady", "Pending"):
                return "failed", f"{reason}: {cond.get('message', '')}".strip(": ")
    return "pending", ""


class OMEDeployer:
    schedules_gpus = True  # the cluster picks the GPUs; the tuner only asks for a count

    def __init__(self, settings: TunerSettings, task: Task | None = None) -> None:
        from kubernetes import client, config

        self.settings = settings
        api_client = config.new_client_from_config(config_file=settings.kubeconfig)
        self.custom = client.CustomObjectsApi(api_client)
        self.core = client.CoreV1Api(api_client)
        self.api_client = api_client
        self._urls: dict[str, str] = {}
        self._failures: dict[str, str] = {}
        self._namespaces: dict[str, str] = {}
        self.default_namespace = task.model.namespace if task is not None else "autotuner"

    def name_for(self, task: Task, exp_id: int) -> str:
        return isvc_name(task, exp_id)

    def ping(self) -> None:
        from kubernetes import client

        client.VersionApi(self.api_client).get_code()

    def _ensure_namespace(self, ns: str) -> None:
        from kubernetes.client.rest import ApiException

        try:
            self.core.read_namespace(ns)
        except ApiException as exc:
            if exc.status != 404:
                raise
            try:
                self.core.create_namespace({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}})
            except ApiException as again:
                if again.status != 409:
                    raise

    def start(self, task: Task, exp_id: int, params: dict[str, Any], port: int, gpus: list[int]) -> Deployment:
        ns = task.model.namespace
        self._ensure_namespace(ns)
        body = inference_service(task, exp_id, params, gpus_needed(task, self.settings, params))
        name = body["metadata"]["name"]
        self.remove(name, ns)
        self.custom.create_namespaced_custom_object(GROUP, VERSION, ns, "inferenceservices", body)
        self._namespaces[name] = ns
        return Deployment(name, port, [], url="")

    def wait_healthy(self, deployment: Deployment, timeout_s: float, stop: Callable[[], bool]) -> None:
        from kubernetes import watch

        ns = self._namespaces[deployment.name]
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if stop():
                raise Stopped()
            w = watch.Watch()
            slice_s = max(1, int(min(WATCH_SLICE_S, deadline - time.monotonic())))
            for event in w.stream(self.custom.list_namespaced_custom_object, GROUP, VERSION, ns, "inferenceservices",
                                  field_selector=f"metadata.name={deployment.name}", timeout_seconds=slice_s):
                obj = event["object"]
                if event["type"] == "DELETED":
                    w.stop()
                    raise ServerFailed("the InferenceService was deleted")
                state, message = ready_state(obj)
                if state == "ready":
                    w.stop()
                    status = obj.get("status") or {}
                    deployment.url = status.get("url") or (status.get("address") or {}).get("url") or ""
                    if not deployment.url:
                        raise ServerFailed("Ready, but the InferenceService has no status.url")
                    return
                if state == "failed":
                    w.stop()
                    tail = ((obj.get("status") or {}).get("modelStatus") or {}).get("lastFailureInfo", {}).get("message", "")
                    self._failures[deployment.name] = tail
                    raise ServerFailed(f"the InferenceService failed: {message}", tail)
                if stop():
                    w.stop()
                    raise Stopped()
        raise ServerFailed(f"InferenceService {deployment.name} not Ready after {timeout_s:.0f} s")

    def benchmark(self, task: Task, exp_id: int, deployment: Deployment, out_dir: Path, timeout_s: float,
                  stop: Callable[[], bool], log: Callable[[str], None]) -> None:
        """A BenchmarkJob for this experiment, waited for until Completed (or Failed)."""
        from kubernetes import watch

        ns = self._namespaces[deployment.name]
        out_dir.mkdir(parents=True, exist_ok=True)
        body = benchmark_job(task, exp_id, deployment.name, f"file://{out_dir.resolve()}")
        name = body["metadata"]["name"]
        self._delete("benchmarkjobs", name, ns)
        self.custom.create_namespaced_custom_object(GROUP, VERSION, ns, "benchmarkjobs", body)
        log(f"[ome] BenchmarkJob {ns}/{name} created")
        deadline = time.monotonic() + timeout_s
        try:
            while time.monotonic() < deadline:
                if stop():
                    raise Stopped()
                w = watch.Watch()
                for event in w.stream(self.custom.list_namespaced_custom_object, GROUP, VERSION, ns, "benchmarkjobs",
                                      field_selector=f"metadata.name={name}", timeout_seconds=WATCH_SLICE_S):
                    state = ((event["object"].get("status") or {}).get("state")) or ""
                    if state == "Completed":  # OME's terminal success state
                        w.stop()
                        log(f"[ome] BenchmarkJob {name} Completed")
                        return
                    if state == "Failed":
                        w.stop()
                        raise ServerFailed("the BenchmarkJob failed: " +
                                           str((event["object"].get("status") or {}).get("failureMessage", "")))
            raise ServerFailed(f"BenchmarkJob {name} not Completed after {timeout_s:.0f} s")
        finally:
            self._delete("benchmarkjobs", name, ns)

    def log_tail(self, name: str, lines: int | None = None) -> str:
        return self._failures.get(name, "")

    def _delete(self, plural: str, name: str, ns: str) -> bool:
        from kubernetes.client.rest import ApiException

        try:
            self.custom.delete_namespaced_custom_object(GROUP, VERSION, ns, plural, name)
            return True
        except ApiException as exc:
            if exc.status == 404:
                return False
            raise

    def remove(self, name: str, ns: str | None = None) -> bool:
        return self._delete("inferenceservices", name, ns or self._namespaces.get(name) or self.default_namespace)

    def containers(self, task_name: str) -> list[str]:
        """This task's InferenceServices in every namespace the tuner used (or `autotuner`)."""
        out = []
        for ns in set(self._namespaces.values()) | {self.default_namespace}:
            try:
                found = self.custom.list_namespaced_custom_object(GROUP, VERSION, ns, "inferenceservices",
                                                                  label_selector=f"autotuner.io/task={task_name}")
            except Exception:
                continue
            out += [o["metadata"]["name"] for o in found.get("items", [])]
        return out
