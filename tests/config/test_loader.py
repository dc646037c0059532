"""The config loader: located errors, env expansion, secrets kept out of messages."""

from __future__ import annotations

import pytest

from servedeck.config import EMBEDDED, ConfigError, load_config, load_text


def problems(text: str, **env) -> list[str]:
    with pytest.raises(ConfigError) as info:
        load_text(text, "cfg.yaml")
    return [str(p) for p in info.value.problems]


def test_unknown_key_is_reported_at_its_line_and_column():
    text = "ui:\n  theme: nord\n  colour: red\n"
    assert problems(text) == ["cfg.yaml:3:3: unknown key 'colour' in ui"]


def test_unknown_key_inside_a_backend_target_points_at_that_key():
    text = (
        "backends:\n"
        "  router:\n"
        "    - name: r1\n"
        "      url: http://127.0.0.1:1\n"
        "      colour: red\n"
    )
    (line,) = problems(text)
    assert line.startswith("cfg.yaml:5:7: unknown key 'colour'")


def test_wrong_type_names_the_key():
    text = "ssh:\n  login:\n    hostname: h\n    port: lots\n"
    (line,) = problems(text)
    assert line.startswith("cfg.yaml:4:5: ssh.login.port:")


def test_every_problem_is_reported_not_only_the_first():
    text = "readonly: maybe\nui:\n  colour: 1\nbackends:\n  nosuchkind:\n    - name: x\n"
    lines = problems(text)
    assert len(lines) == 3
    assert [l.split(":")[1] for l in lines] == ["1", "3", "5"]


def test_unknown_backend_kind_lists_the_installed_ones():
    (line,) = problems("backends:\n  dockr:\n    - name: x\n")
    assert "unknown backend kind 'dockr'" in line
    for kind in ("docker", "prometheus", "slurm", "router"):
        assert kind in line


def test_missing_required_key_points_at_its_mapping():
    (line,) = problems("backends:\n  router:\n    - url: http://127.0.0.1:1\n")
    assert line.startswith("cfg.yaml:3:7: missing required key 'name'")


def test_duplicate_keys_and_duplicate_target_names_are_errors():
    lines = problems(
        "readonly: true\nreadonly: false\nbackends:\n  router:\n"
        "    - {name: r, url: 'http://127.0.0.1:1'}\n    - {name: r, url: 'http://127.0.0.1:2'}\n"
    )
    assert any("2:1: duplicate key 'readonly'" in l for l in lines)
    assert any("duplicate backend name 'r'" in l for l in lines)


def test_invalid_yaml_is_located():
    (line,) = problems("ui:\n  theme: [nord\n")
    assert line.startswith("cfg.yaml:") and "invalid YAML" in line


def test_env_references_are_expanded(monkeypatch):
    monkeypatch.setenv("SD_ROUTER_PORT", "29123")
    loaded = load_text("backends:\n  router:\n    - {name: r, url: 'http://127.0.0.1:${SD_ROUTER_PORT}'}\n", "c.yaml")
    assert loaded.targets[0].settings.url.endswith(":29123")


def test_missing_env_variable_is_named(monkeypatch):
    monkeypatch.delenv("SD_NOT_SET", raising=False)
    (line,) = problems("ui:\n  theme: ${SD_NOT_SET}\n")
    assert line == "cfg.yaml:2:3: environment variable SD_NOT_SET is not set (used by ui.theme)"


def test_values_from_the_environment_are_never_printed(monkeypatch):
    secret = "s3cr3t-value-that-must-not-leak"
    monkeypatch.setenv("SD_PORT_TOKEN", secret)
    text = "ssh:\n  h:\n    hostname: x\n    port: ${SD_PORT_TOKEN}\n"
    with pytest.raises(ConfigError) as info:
        load_text(text, "cfg.yaml")
    assert secret not in str(info.value)
    assert "cfg.yaml:4:5" in str(info.value)


def test_dollar_dollar_escapes_a_literal_dollar():
    loaded = load_text("ui:\n  theme: $${NOT_EXPANDED}\n", "c.yaml")
    assert loaded.config.ui.theme == "${NOT_EXPANDED}"


def test_unknown_ssh_reference_is_reported():
    (line,) = problems("backends:\n  slurm:\n    - {name: c, ssh: nowhere}\n")
    assert "unknown ssh host 'nowhere'" in line


def test_no_config_uses_the_embedded_default(monkeypatch, tmp_path):
    monkeypatch.delenv("SERVEDECK_CONFIG", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    loaded = load_config(None)
    assert loaded.source == EMBEDDED
    kinds = {t.kind for t in loaded.targets}
    assert {"docker", "prometheus"} <= kinds


def test_config_path_order(monkeypatch, tmp_path):
    home_cfg = tmp_path / ".config" / "servedeck" / "config.yaml"
    home_cfg.parent.mkdir(parents=True)
    home_cfg.write_text("readonly: true\n")
    env_cfg = tmp_path / "env.yaml"
    env_cfg.write_text("ui: {theme: nord}\n")
    flag_cfg = tmp_path / "flag.yaml"
    flag_cfg.write_text("ui: {theme: gruvbox}\n")
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.delenv("SERVEDECK_CONFIG", raising=False)
    assert load_config(None).source == str(home_cfg)
    monkeypatch.setenv("SERVEDECK_CONFIG", str(env_cfg))
    assert load_config(None).config.ui.theme == "nord"
    assert load_config(str(flag_cfg)).config.ui.theme == "gruvbox"


def test_unreadable_config_is_one_clear_problem(tmp_path):
    with pytest.raises(ConfigError) as info:
        load_config(str(tmp_path / "missing.yaml"))
    assert "cannot read config" in str(info.value)


def test_orchestrator_sections_in_servedeck_config_are_checked_with_their_schema():
    text = "deployments:\n  - name: d1\n    replicas: two\n"
    lines = problems(text)
    assert any(l.startswith("cfg.yaml:3:5: deployments[0].replicas:") for l in lines)
