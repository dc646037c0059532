"""`runs` target settings: bad mounts and serve templates are config errors with a location."""

from __future__ import annotations

import pytest

from servedeck.config import ConfigError, load_text


@pytest.mark.parametrize("field, value, says", [
    ("mounts", '["nocolon"]', "is not HOST:/CONTAINER"),
    ("mounts", '["/a:/b:rx"]', "is not HOST:/CONTAINER"),
    ("serve_template", '["python", "{modle}"]', "unknown placeholder 'modle'"),
    ("serve_template", "[]", "the template is empty"),
])
def test_bad_values_are_located_config_errors(field, value, says):
    with pytest.raises(ConfigError) as err:
        load_text(f"backends:\n  runs:\n    - name: h\n      {field}: {value}\n", "c.yaml")
    (problem,) = err.value.problems
    assert str(problem).startswith("c.yaml:4:7:") and says in str(problem)


def test_defaults_are_the_seed_s():
    loaded = load_text("backends:\n  runs:\n    - name: h\n", "c.yaml")
    (target,) = loaded.targets
    s = target.settings
    assert s.container == "sglang-dev" and s.user == "devuser" and s.storage_root == "~/sglang-observability"
    assert s.serve_template[:3] == ["python", "-m", "sglang.launch_server"] and "{port}" in s.serve_template
    assert s.payload == ["sleep", "infinity"]
