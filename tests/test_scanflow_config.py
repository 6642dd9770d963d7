"""``scanflow.yml``: defaults, the documented template, validation errors, environments."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from kedro.config import OmegaConfigLoader

from kedro_scanflow.config import ScanflowConfig, ScanflowConfigError, load_scanflow_config
from kedro_scanflow.framework.cli.init_command import default_scanflow_yml
from kedro_scanflow.tracking.tracking_uri import (
    TrackingConfigError,
    absolute_tracking_uri,
    resolve_tracking_target,
)


def _loader(conf: Path, env: str | None = None) -> OmegaConfigLoader:
    for folder in ("base", "local", env):
        if folder:
            (conf / folder).mkdir(parents=True, exist_ok=True)
    return OmegaConfigLoader(str(conf), base_env="base", default_run_env="local", env=env)


def _write(conf: Path, env: str, name: str, content: str) -> None:
    (conf / env).mkdir(parents=True, exist_ok=True)
    (conf / env / name).write_text(content)


def test_no_file_means_the_defaults(tmp_path):
    (tmp_path / "base").mkdir()
    assert load_scanflow_config(_loader(tmp_path)) == ScanflowConfig()


def test_the_init_template_documents_exactly_the_defaults():
    text = default_scanflow_yml("my_package")
    loaded = ScanflowConfig.model_validate(yaml.safe_load(text))
    assert loaded.tracker.experiment == "my_package"
    assert loaded.model_copy(update={"tracker": ScanflowConfig().tracker}) == ScanflowConfig()
    for section in ScanflowConfig.model_fields:
        assert f"{section}:" in text


def test_local_overrides_base(tmp_path):
    _write(tmp_path, "base", "scanflow.yml", "run:\n  max_workers: 2\n  group_by: namespace\n")
    _write(tmp_path, "local", "scanflow.yml", "run:\n  max_workers: 6\n")
    config = load_scanflow_config(_loader(tmp_path))
    assert config.run.max_workers == 6


def test_errors_name_file_key_and_value(tmp_path):
    _write(
        tmp_path,
        "base",
        "scanflow.yml",
        "run:\n  max_workers: 0\nbackends:\n  local:\n    start_method: thread\n",
    )
    with pytest.raises(ScanflowConfigError) as error:
        load_scanflow_config(_loader(tmp_path))
    message = str(error.value)
    assert (
        f"{tmp_path}/base/scanflow.yml: key 'run.max_workers': Input should be greater than 0 (got 0)"
        in message
    )
    assert "key 'backends.local.start_method'" in message and "'thread'" in message


def test_the_error_names_the_environment_file_that_sets_the_bad_value(tmp_path):
    _write(tmp_path, "base", "scanflow.yml", "run:\n  max_workers: 2\n")
    _write(tmp_path, "staging", "scanflow.yml", "tracker:\n  colour: blue\n")
    with pytest.raises(
        ScanflowConfigError, match=r"staging/scanflow.yml: key 'tracker.colour': Extra inputs"
    ):
        load_scanflow_config(_loader(tmp_path, env="staging"))


def test_tracking_uri_resolution_order(tmp_path, monkeypatch):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    (tmp_path / "base").mkdir()
    loader = _loader(tmp_path)
    default = resolve_tracking_target(ScanflowConfig().tracker, loader, Path("/project"), "pkg")
    assert (default.uri, default.experiment) == ("sqlite:////project/mlflow.db", "pkg")

    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://tracker:5000")
    assert (
        resolve_tracking_target(ScanflowConfig().tracker, _loader(tmp_path), Path("/p"), "pkg").uri
        == "http://tracker:5000"
    )

    _write(
        tmp_path,
        "base",
        "mlflow.yml",
        "server:\n  mlflow_tracking_uri: sqlite:///db/runs.db\ntracking:\n  experiment:\n    name: from-mlflow-yml\n",
    )
    from_mlflow_yml = resolve_tracking_target(
        ScanflowConfig().tracker, _loader(tmp_path), Path("/p"), "pkg"
    )
    assert (from_mlflow_yml.uri, from_mlflow_yml.experiment) == (
        "sqlite:////p/db/runs.db",
        "from-mlflow-yml",
    )

    _write(
        tmp_path,
        "base",
        "scanflow.yml",
        "tracker:\n  uri: sqlite:////abs/x.db\n  experiment: mine\n",
    )
    config = load_scanflow_config(_loader(tmp_path))
    wins = resolve_tracking_target(config.tracker, _loader(tmp_path), Path("/p"), "pkg")
    assert (wins.uri, wins.experiment, wins.source) == (
        "sqlite:////abs/x.db",
        "mine",
        "scanflow.yml (tracker.uri)",
    )


def test_a_file_store_is_refused_with_a_way_out(monkeypatch):
    monkeypatch.delenv("MLFLOW_ALLOW_FILE_STORE", raising=False)
    with pytest.raises(
        TrackingConfigError,
        match="'mlruns' from mlflow.yml .* is a file store.*sqlite:///mlflow.db",
    ):
        absolute_tracking_uri("mlruns", Path("/p"), "mlflow.yml (server.mlflow_tracking_uri)")
    assert absolute_tracking_uri("http://host:5000", Path("/p")) == "http://host:5000"
