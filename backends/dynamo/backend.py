"""The dynamo backend: the Builds pane (from the on-disk build records) and the Images
pane (Dynamo images on one Docker host), with their actions.

One target is one Docker host, like the docker backend; several show side by side. The
builds come from the state dir any `servedeck dynamo build` writes to, so a build started
in a terminal shows in a cockpit running elsewhere; they are matched to this target by
Docker URL. Images are read through the Engine API: tag, framework and target from the
tag (`dynamo:V-<fw>[-<target>]`), else from labels, else from the build that made them.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any, Mapping

from pydantic import Field

from servedeck.backends.base import (
    Action, ActionResult, Backend, BackendContext, BackendError, BackendSettings, OpenLog, PartialPoll,
    RunInteractive, Rows, ShowText,
)
from servedeck.backends.lazy import lazy
from servedeck.backends.dynamo.records import BuildRecord, BuildStore
from servedeck.backends.dynamo.rows import BUILDS, IMAGES, BuildRow, ImageRow, build_row, image_rows

docker = lazy("docker", "errors")  # imported under the lazy-import lock, with the Docker backend's


class DynamoSettings(BackendSettings):
    url: str = Field(default="unix:///var/run/docker.sock",
                     description="Docker Engine the builds and containers run on (unix://, tcp://, ssh://).")
    repo: str = Field(default="", description="Dynamo checkout for image actions (run.sh's paths); default: cwd.")
    state_dir: str = Field(default="", description="Where build records live (default: servedeck's state dir).")
    build_network: str | None = Field(default=None, description="network_mode for builds (`none` on hosts without a bridge).")
    docker_cli: str = Field(default="", description="docker client for BuildKit builds (default: /usr/bin/docker).")
    timeout: float = Field(default=60.0, gt=0, description="Seconds one Engine API call may take.")
    run_ulimits: dict[str, int] = Field(default_factory=dict, description=(
        "Caps on run.sh's ulimits (memlock, stack, nofile) for real runs, for an engine that may not raise "
        "them (nested, unprivileged): e.g. {memlock: 8388608, nofile: 20000}. The dry-run line is unchanged."))
    image_prefixes: tuple[str, ...] = Field(default=("dynamo",),
                                            description="Image repositories shown in the Images pane (name prefixes).")


@dataclass(frozen=True)
class ConfirmRun:
    """Follow-up: show run.sh's dry-run and ask before running it (widgets/panes/dynamo)."""

    backend: str
    row: Any
    flags: str
    dry_run: str
    action_id: str = "image.run_now"


ACTIONS = (
    Action("build.log", "Open build log", "builds", mutating=False, key="l"),
    Action("build.details", "Build details", "builds", mutating=False, key="i"),
    Action("build.cancel", "Cancel build", "builds", mutating=True, confirm=True, key="x"),
    Action("image.run", "Run image (run.sh)", "dynamo_images", mutating=True, key="r",
           prompt="run.sh flags (the image is --image; e.g. --gpus none -- sh -c id)"),
    Action("image.run_now", "Run image now", "dynamo_images", mutating=True),
    Action("image.inspect", "Inspect image", "dynamo_images", mutating=False, key="i"),
    Action("image.remove", "Remove image", "dynamo_images", mutating=True, confirm=True, key="ctrl+d"),
)


class DynamoBackend(Backend):
    kind = "dynamo"
    settings_model = DynamoSettings
    default_interval = 1.0  # reading a few small files; a running build's progress wants it
    idle_interval = 5.0  # no build queued or running: images and finished builds change rarely
    panes = (BUILDS, IMAGES)
    actions = ACTIONS
    log_kinds = ("build",)

    settings: DynamoSettings

    def __init__(self, settings: DynamoSettings, context: BackendContext | None = None):
        super().__init__(settings, context)
        self.store = BuildStore(settings.state_dir or None)
        self._api = None
        self._images_at = 0.0
        self._images: tuple = ()

    def _client(self):
        if self._api is None:
            self._api = docker.APIClient(base_url=self.settings.url, timeout=self.settings.timeout)
        return self._api

    def _docker(self, fn):
        from servedeck.backends.docker.errors import api_text, translate

        try:
            return fn(self._client())
        except docker.errors.NotFound:
            raise
        except docker.errors.APIError as exc:
            raise BackendError(f"Docker Engine at {self.settings.url}: {api_text(exc)}", reachable=True) from None
        except Exception as exc:
            self.close()
            raise translate(exc, self.settings.url, self.settings.timeout) from None

    def records(self) -> list[BuildRecord]:
        return [r for r in self.store.records() if r.url == self.settings.url]

    def poll(self, wanted: frozenset[str]) -> Mapping[str, Rows]:
        if not wanted:
            self._docker(lambda api: api.ping())
            return {}
        out: dict[str, Rows] = {}
        records = self.records()
        self.live = any(not r.finished for r in records)
        if "builds" in wanted:
            now = time.time()
            out["builds"] = tuple(build_row(r, now) for r in records)
        if "dynamo_images" in wanted:
            try:
                out["dynamo_images"] = self._image_rows(force=False)
            except BackendError as exc:
                if not out:
                    raise
                raise PartialPoll(out, exc.message, hint=exc.hint) from None
        return out

    def _image_rows(self, force: bool) -> tuple:
        # Images change rarely: list them every 5 s unless a build just finished.
        finished = max((r.finished_at or 0 for r in self.records()), default=0)
        if self._images and time.time() - self._images_at < 5 and finished < self._images_at and not force:
            return self._images
        images = self._docker(lambda api: api.images())
        containers = self._docker(lambda api: api.containers(all=True))
        by_image = {r.image_id: r for r in self.records() if r.image_id}
        self._images = tuple(image_rows(self.name, images, containers, by_image, self.settings.image_prefixes))
        self._images_at = time.time()
        return self._images

    # -- actions ---------------------------------------------------------------------

    def perform(self, action_id: str, row: Any, value: str | None = None) -> ActionResult:
        self.live = True  # an action may start a build or a container: watch closely until a poll says otherwise
        if action_id.startswith("build."):
            return self._build_action(action_id, row)
        if action_id.startswith("image."):
            return self._image_action(action_id, row, value)
        return super().perform(action_id, row)

    def _build_action(self, action_id: str, row: BuildRow) -> ActionResult:
        record = self.store.load(row.id)
        if record is None:
            return ActionResult(False, f"build {row.id} has no record any more")
        if action_id == "build.log":
            return ActionResult(True, f"log of build {row.id}", follow_up=OpenLog(self.build_log(row.id), f"build/{row.id}"))
        if action_id == "build.details":
            return ActionResult(True, "details", follow_up=ShowText(f"build {row.id}", details_text(record)))
        if record.finished:
            return ActionResult(False, f"build {row.id} is {record.state}: nothing to cancel")
        self.store.request_cancel(row.id)
        return ActionResult(True, f"cancel requested for build {row.id} ({record.tag})")

    def build_log(self, build_id: str):
        from servedeck.backends.logs.files import FileSource

        return FileSource(self.store.log_path(build_id), f"build/{build_id}")

    def log_source(self, kind: str, name: str):
        if kind != "build" or self.store.load(name) is None:
            return None
        return self.build_log(name)

    def _image_action(self, action_id: str, row: ImageRow, value: str | None) -> ActionResult:
        from servedeck.backends.dynamo.buildsh import ScriptExit
        from servedeck.backends.dynamo.runsh import split_flags
        from servedeck.backends.dynamo.session import RunSession, explain_run_error

        if action_id == "image.inspect":
            data = self._docker(lambda api: api.inspect_image(row.full_id))
            return ActionResult(True, "inspect", follow_up=ShowText(f"image {row.tag}", json.dumps(data, indent=2)))
        if action_id == "image.remove":
            try:
                for tag in row.tags or (row.full_id,):
                    self._docker(lambda api: api.remove_image(tag))
            except docker.errors.NotFound:
                return ActionResult(False, f"image {row.tag} no longer exists")
            self._images_at = 0
            return ActionResult(True, f"removed {', '.join(row.tags) or row.id}")
        session = RunSession(self.settings)
        try:
            flags = ["--image", row.tag or row.full_id, *split_flags(value or "")]
            plan = session.plan(flags)
        except (ScriptExit, ValueError) as exc:
            text = getattr(exc, "stderr", "") or str(exc)
            return ActionResult(False, f"run.sh: {text.strip()}")
        if action_id == "image.run":
            return ActionResult(True, "dry run", follow_up=ConfirmRun(self.name, row, value or "", plan.line()))
        if plan.interactive:  # -it: hand the terminal to the docker CLI with the same words
            from servedeck.backends.dynamo.builder import default_cli

            argv = (self.settings.docker_cli or default_cli(), "-H", self.settings.url, *plan.argv[1:])
            return ActionResult(True, "interactive run", follow_up=RunInteractive(argv, f"run {row.tag}"))
        try:
            cid = session.create(plan)
            self._docker(lambda api: api.start(cid))
        except docker.errors.APIError as exc:
            return ActionResult(False, explain_run_error(str(exc.explanation or exc)))
        except BackendError as exc:
            return ActionResult(False, explain_run_error(exc.message))
        return ActionResult(True, f"started container {cid[:12]} from {row.tag}")

    def close(self) -> None:
        api, self._api = self._api, None
        if api is not None:
            try:
                api.close()
            except Exception:
                pass


def details_text(r: BuildRecord) -> str:
    lines = [f"build      {r.id} ({r.seq} of {r.count}: {r.role})", f"state      {r.state}",
             f"via        {r.via or '—'}", f"framework  {r.framework}   target {r.target}", f"base       {r.base}",
             f"tags       {', '.join(r.tags)}", f"step       {r.step}/{r.steps}   cache hits {r.cache_hits}",
             f"image      {r.image_id or '—'}", "", "command", f"  {r.command}"]
    if r.error:
        lines += ["", "error", f"  {r.error}", f"  at step: {r.error_step or '—'}"]
    if r.last_lines:
        lines += ["", "last lines"] + [f"  {line}" for line in r.last_lines]
    return "\n".join(lines)
