"""Hostile config files: deep nesting, alias bombs, huge and non-UTF-8 files each become
one FILE:LINE:COL line from validate, status and the orchestrator (issue 15, part 3)."""

from __future__ import annotations

import subprocess
import sys

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from servedeck.config import ConfigError, load_text
from servedeck.config.document import MAX_CONFIG_BYTES
from servedeck.orchestrator import config as orch_config

DEEP = "ui:\n  theme: " + "[" * 50_000 + "]" * 50_000 + "\n"


def alias_bomb(levels: int = 9) -> str:
    text = 'a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]\n'
    prev = "a"
    for name in "bcdefghijk"[:levels - 1]:
        text += f"{name}: &{name} [" + ",".join([f"*{prev}"] * 9) + "]\n"
        prev = name
    return text


def problems(text: str, loader=load_text) -> list[str]:
    with pytest.raises(ConfigError) as info:
        loader(text, "cfg.yaml")
    return [str(p) for p in info.value.problems]


def test_deep_nesting_is_one_located_line():
    (line,) = problems(DEEP)
    assert line.startswith("cfg.yaml:2:") and "nested deeper than 64 levels" in line


def test_alias_bomb_is_refused_before_it_expands():
    (line,) = problems(alias_bomb())
    assert line.startswith("cfg.yaml:1:1:") and "alias bomb" in line


def test_self_referring_alias_is_refused():
    (line,) = problems("ui: &u {theme: *u}\n")
    assert "refers to the node that contains it" in line


def test_many_aliases_are_refused():
    text = "x: &x 1\nl: [" + ", ".join(["*x"] * 500) + "]\n"
    (line,) = problems(text)
    assert "more than 100 aliases" in line


def test_orchestrator_config_gets_the_same_bounds():
    assert "nested deeper" in problems(DEEP, orch_config.load_text)[0]
    assert "alias bomb" in problems(alias_bomb(), orch_config.load_text)[0]


@pytest.mark.parametrize("case", ["deep", "bomb", "binary", "huge"])
@pytest.mark.parametrize("verb", [["validate"], ["status", "--json"], ["orchestrate", "validate"]])
def test_cli_verbs_print_one_line_per_problem_no_traceback(tmp_path, case, verb):
    path = tmp_path / "cfg.yaml"
    if case == "deep":
        path.write_text(DEEP)
    elif case == "bomb":
        path.write_text(alias_bomb())
    elif case == "binary":
        path.write_bytes(b"ui:\n  theme: \xff\xfe\n")
    else:
        path.write_text("# pad\n" * (MAX_CONFIG_BYTES // 6 + 10))
    proc = subprocess.run([sys.executable, "-m", "servedeck", *verb, "--config", str(path)],
                          capture_output=True, text=True, timeout=60)
    out = (proc.stdout + proc.stderr).strip().splitlines()
    assert proc.returncode != 0
    assert "Traceback" not in proc.stderr
    assert len(out) == 1, out
    assert out[0].startswith(f"{path}:"), out


yaml_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=15),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=10), inner, max_size=3),
    max_leaves=20,
)
sections = st.dictionaries(st.sampled_from(["readonly", "ui", "ssh", "backends", "logs", "orchestrator",
                                            "deployments"]), yaml_values, max_size=4)


@settings(max_examples=200, deadline=None)
@given(text=st.text(max_size=300) | sections.map(lambda d: yaml.safe_dump(d)))
def test_property_any_text_loads_or_gives_located_problems(text):
    for loader in (load_text, orch_config.load_text):
        try:
            loader(text, "cfg.yaml")
        except ConfigError as exc:
            assert exc.problems
            for p in exc.problems:
                assert p.line >= 1 and p.col >= 1 and "\n" not in p.message
