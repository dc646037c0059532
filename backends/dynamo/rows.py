"""The immutable rows of the Builds and Images panes, and the pane specs that show them.

A build row is one `docker build` of a build.sh chain; rows of one invocation share
`invocation` (the pane groups them, base -> framework -> local-dev). An image row's
framework and target come from its tag (`dynamo:V-<fw>[-<target>]`), else from the
stand-in/label convention `ai.dynamo.framework`/`ai.dynamo.target`, else from the build
record that produced it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Iterable, Mapping

from servedeck.backends.base import Column, PaneSpec
from servedeck.backends.dynamo.records import BuildRecord

BUILDS = PaneSpec(
    key="builds",
    title="Builds",
    columns=(
        Column("invocation", "Invocation", 21),
        Column("chain", "Build", 13),
        Column("framework", "FW", 6),
        Column("target", "Target", 9),
        Column("tag", "Tag", 34),
        Column("base", "Base", 24),
        Column("progress", "Step", 7),
        Column("cache_hits", "Cached", 6),
        Column("elapsed_s", "Elapsed", 8),
        Column("state", "State", 9),
        Column("via", "Via", 12),
        Column("failure", "Failing step / last lines", 60),
    ),
    row_key="id",
    aliases=("bu", "build", "dynamo"),
    order=32,  # after the containers and their runs
)

IMAGES = PaneSpec(
    key="dynamo_images",
    title="Images",
    columns=(
        Column("tag", "Tag", 40),
        Column("framework", "FW", 7),
        Column("target", "Target", 9),
        Column("size_bytes", "Size", 9),
        Column("created_at", "Created", 10),
        Column("containers", "Used by", 24),
        Column("more_tags", "Other tags", 40),
        Column("id", "ID", 12),
    ),
    row_key="id",
    aliases=("im", "img", "image", "images"),
    order=34,
)

FRAMEWORK_NAMES = ("vllm", "trtllm", "sglang", "none")
_TAG = re.compile(r"-(" + "|".join(FRAMEWORK_NAMES) + r")(?:-(.+))?$")


@dataclass(frozen=True)
class BuildRow:
    id: str
    host: str
    invocation: str
    chain: str  # "1/3 base"
    framework: str
    target: str
    tag: str
    base: str
    progress: str  # "4/7"
    cache_hits: int
    elapsed_s: float | None
    state: str
    via: str
    failure: str  # failing step: error | last line
    started_at: float | None = None
    tags: tuple[str, ...] = ()
    last_lines: tuple[str, ...] = ()
    current: str = ""
    log_lines: int = 0


@dataclass(frozen=True)
class ImageRow:
    id: str  # short id
    host: str
    tag: str
    framework: str
    target: str
    size_bytes: int
    created_at: float | None
    containers: str
    more_tags: str
    full_id: str = ""
    tags: tuple[str, ...] = ()
    version: str = ""


def build_row(r: BuildRecord, now: float) -> BuildRow:
    end = r.finished_at or now
    failure = ""
    if r.state in ("failed", "lost", "skipped", "cancelled"):
        last = next((line for line in reversed(r.last_lines) if line.strip()), "")
        parts = [p for p in (r.error_step, r.error, last if last not in r.error else "") if p]
        failure = " | ".join(parts)
    return BuildRow(
        id=r.id, host=r.host, invocation=r.invocation, chain=f"{r.seq}/{r.count} {r.role}", framework=r.framework,
        target=r.target, tag=r.tag, base=r.base, progress=f"{r.step}/{r.steps}" if r.steps else "—",
        cache_hits=r.cache_hits, elapsed_s=round(end - r.started_at, 1) if r.started_at else None, state=r.state,
        via=r.via, failure=failure, started_at=r.started_at, tags=tuple(r.tags), last_lines=tuple(r.last_lines),
        current=r.current, log_lines=r.log_lines)


def framework_target(tag: str, labels: Mapping[str, str] | None) -> tuple[str, str, str]:
    """(framework, target, version) from a tag like dynamo:v0.6.0-vllm-local-dev, then labels."""
    labels = labels or {}
    repo, _, name = tag.rpartition(":")
    fw, target, version = "", "", ""
    if repo.rsplit("/", 1)[-1] == "dynamo-base":
        fw, target, version = "base", "dev", name
    else:
        m = _TAG.search(name)
        if m:
            fw, target = m.group(1), m.group(2) or "dev"
            version = name[: m.start()]
    fw = fw or str(labels.get("ai.dynamo.framework", "")).lower()
    target = target or str(labels.get("ai.dynamo.target", ""))
    version = version or str(labels.get("ai.dynamo.version", ""))
    return fw, target, version


def _wanted(tags: list[str], labels: Mapping[str, str], prefixes: Iterable[str], built: bool) -> bool:
    if built or any(k.startswith("ai.dynamo.") for k in labels):
        return True
    names = [t.rpartition(":")[0].rsplit("/", 1)[-1] for t in tags]
    return any(n.startswith(p) for n in names for p in prefixes)


def image_rows(host: str, images: list[dict[str, Any]], containers: list[dict[str, Any]],
               by_image: Mapping[str, BuildRecord], prefixes: Iterable[str]) -> list[ImageRow]:
    users: dict[str, list[str]] = {}
    for c in containers:
        names = c.get("Names") or []
        users.setdefault(str(c.get("ImageID", "")), []).append(names[0].lstrip("/") if names else str(c.get("Id", ""))[:12])
    prefixes = tuple(prefixes)
    rows = []
    for img in images:
        full_id = str(img.get("Id", ""))
        tags = [t for t in (img.get("RepoTags") or []) if t and t != "<none>:<none>"]
        labels = img.get("Labels") or {}
        record = by_image.get(full_id)
        if (not tags and record is None) or not _wanted(tags, labels, prefixes, record is not None):
            continue
        tags.sort(key=lambda t: ("latest" in t, t))  # the versioned tag first
        main = tags[0] if tags else ""
        fw, target, version = framework_target(main, labels)
        if record is not None:
            fw, target = fw or record.framework, target or record.target
        rows.append(ImageRow(
            id=full_id.split(":")[-1][:12], host=host, tag=main or "<none>", framework=fw, target=target,
            size_bytes=int(img.get("Size") or 0), created_at=float(img.get("Created") or 0) or None,
            containers=", ".join(sorted(users.get(full_id, []))), more_tags=", ".join(tags[1:]), full_id=full_id,
            tags=tuple(tags), version=version))
    rows.sort(key=lambda r: (-(r.created_at or 0), r.tag))
    return rows
