from pathlib import Path

import pytest

from doctune.foundation.config import ProjectConfig, load_config
from doctune.foundation.errors import ConfigError
from doctune.models.roles import resolve_role


def write(tmp_path: Path, text: str) -> Path:
    (tmp_path / "doctune.yaml").write_text(text, encoding="utf-8")
    return tmp_path


def test_unknown_key_names_the_key_and_the_closest_valid_one(tmp_path: Path) -> None:
    write(tmp_path, "client:\n  concurency: 4\n")
    with pytest.raises(ConfigError) as err:
        load_config(tmp_path)
    message = str(err.value)
    assert "client.concurency" in message
    assert "did you mean 'concurrency'" in message
    assert "\n" not in message


def test_unknown_key_inside_model_settings(tmp_path: Path) -> None:
    write(tmp_path, "models:\n  settings:\n    openai:gpt-4o:\n      base_ur: http://x\n")
    with pytest.raises(ConfigError, match="did you mean 'base_url'"):
        load_config(tmp_path)


def test_unknown_top_level_key(tmp_path: Path) -> None:
    write(tmp_path, "synthesise: {}\n")
    with pytest.raises(ConfigError, match="did you mean 'synthesize'"):
        load_config(tmp_path)


def test_env_interpolation_keeps_secret_out_of_repr_and_hashes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MY_KEY", "sk-very-secret")
    write(tmp_path, "models:\n  settings:\n    openai:gpt-4o:\n      api_key: ${MY_KEY}\n")
    cfg = load_config(tmp_path)
    assert cfg.models.settings["openai:gpt-4o"].api_key.get_secret_value() == "sk-very-secret"
    assert "sk-very-secret" not in repr(cfg)
    assert "sk-very-secret" not in str(cfg.model_dump())
    # The hash must not depend on the secret either (it goes into records' provenance).
    monkeypatch.setenv("MY_KEY", "sk-another")
    assert load_config(tmp_path).section_hash("models") == cfg.section_hash("models")


def test_missing_env_variable_is_one_line(tmp_path: Path) -> None:
    write(tmp_path, "models:\n  teacher: ${NOT_SET_ANYWHERE}\n")
    with pytest.raises(ConfigError, match=r"NOT_SET_ANYWHERE\} is not set"):
        load_config(tmp_path)


def test_env_default(tmp_path: Path) -> None:
    write(tmp_path, "models:\n  teacher: ${NOT_SET_ANYWHERE:-openai:gpt-4o-mini}\n")
    assert load_config(tmp_path).models.teacher == "openai:gpt-4o-mini"


def test_invalid_yaml_names_the_line(tmp_path: Path) -> None:
    write(tmp_path, "client:\n  concurrency: [1\n")
    with pytest.raises(ConfigError, match="line"):
        load_config(tmp_path)


def test_split_sizes_counts_or_ratios(tmp_path: Path) -> None:
    write(tmp_path, "split:\n  sizes:\n    pdf_synthetic: {train: 101, validation: 30, test: 25}\n")
    sizes = load_config(tmp_path).split.sizes_for("pdf_synthetic")
    assert sizes.is_count and sizes.values == (101, 30, 25)
    assert not load_config(tmp_path).split.sizes_for("knowledge_distillation").is_count
    write(tmp_path, "split:\n  default: {train: 0.5, validation: 0.1, test: 0.1}\n")
    with pytest.raises(ConfigError, match="sum"):
        load_config(tmp_path)


def test_role_precedence_flag_env_config(monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = ProjectConfig.model_validate(
        {"models": {"teacher": "openai:a", "offline_fallback": "hf:tiny"}}
    )
    monkeypatch.setenv("OPENAI_API_KEY", "k")
    assert resolve_role(cfg, "teacher") == "openai:a"
    monkeypatch.setenv("DOCTUNE_TEACHER", "openai:b")
    assert resolve_role(cfg, "teacher") == "openai:b"
    assert resolve_role(cfg, "teacher", "hf:/x") == "hf:/x"


def test_offline_fallback_only_without_any_endpoint(monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = ProjectConfig.model_validate(
        {"models": {"teacher": "openai:a", "offline_fallback": "hf:tiny"}}
    )
    assert resolve_role(cfg, "teacher") == "hf:tiny"
    monkeypatch.setenv("OPENAI_BASE_URL", "http://127.0.0.1:9/v1")
    assert resolve_role(cfg, "teacher") == "openai:a"
    # The student is never swapped: training a different model than asked would be wrong.
    monkeypatch.delenv("OPENAI_BASE_URL")
    cfg.models.student = "openai:gpt-4o-mini"
    assert resolve_role(cfg, "student") == "openai:gpt-4o-mini"


def test_missing_config_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="doctune init"):
        load_config(tmp_path)
