"""Panes declare their own place and `:` aliases; the catalog orders and resolves them."""

from __future__ import annotations

from servedeck.app.panes import BACKENDS_PANE, PaneCatalog
from servedeck.backends.base import Column, PaneSpec
from servedeck.backends.docker.backend import CONTAINERS
from servedeck.backends.slurm.backend import JOBS

COLS = (Column("id", "Id"),)


def test_order_follows_each_spec_then_the_key():
    thirdparty = PaneSpec("loadavg", "Load average", COLS, aliases=("la",), order=55)
    unplaced_b = PaneSpec("zeta", "Zeta", COLS)
    unplaced_a = PaneSpec("alpha", "Alpha", COLS)
    specs = {s.key: s for s in (JOBS, unplaced_b, thirdparty, CONTAINERS, BACKENDS_PANE, unplaced_a)}
    assert PaneCatalog(specs).keys == ["backends", "containers", "loadavg", "jobs", "alpha", "zeta"]


def test_thirdparty_aliases_resolve_like_builtin_ones():
    thirdparty = PaneSpec("loadavg", "Load average", COLS, aliases=("la", "load"), order=55)
    catalog = PaneCatalog({s.key: s for s in (BACKENDS_PANE, CONTAINERS, JOBS, thirdparty)})
    assert catalog.resolve(":la") == "loadavg"
    assert catalog.resolve("LOAD") == "loadavg"
    assert catalog.resolve("co") == "containers"
    assert catalog.resolve("squeue") == "jobs"
    assert catalog.resolve("lo") == "loadavg"  # a unique prefix of a pane name
    assert catalog.resolve("nothing") is None
    assert "load" in catalog.completions() and "loadavg" in catalog.completions()


def test_an_ambiguous_prefix_resolves_to_nothing():
    specs = {s.key: s for s in (PaneSpec("jobs", "Jobs", COLS), PaneSpec("journal", "Journal", COLS))}
    assert PaneCatalog(specs).resolve("j") is None


def test_a_word_of_an_installed_but_unconfigured_pane_still_names_it():
    catalog = PaneCatalog({BACKENDS_PANE.key: BACKENDS_PANE}, lambda: [JOBS, CONTAINERS])
    assert catalog.resolve("squeue") == "jobs"
    assert catalog.resolve("co") == "containers"
    assert catalog.resolve("frobnicate") is None
    assert catalog.keys == ["backends"]
