"""Project settings. See https://docs.kedro.org/en/stable/configure/configuration_basics/"""

import os

from kedro.config import OmegaConfigLoader

# Keep TensorFlow's start-up banner out of the task logs (set before TensorFlow loads).
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

# kedro-scanflow's hook (conf/base/scanflow.yml) and kedro-mlflow's hook (conf/base/mlflow.yml)
# are registered automatically through their `kedro.hooks` entry points.

CONFIG_LOADER_CLASS = OmegaConfigLoader
CONFIG_LOADER_ARGS = {
    "base_env": "base",
    "default_run_env": "local",
}
