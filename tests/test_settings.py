"""Engine settings: flags beat the environment, which beats the config profile."""

from __future__ import annotations

import pytest

from analytics import settings
from analytics.errors import BadInput

CONFIG = """
[profiles.default]
engine = "duckdb"
data = "/data/default"

[profiles.prod]
engine = "athena"
buckets = ["a-bucket", "b.bucket"]
workgroup = "wg"
timeout = 60
"""


@pytest.fixture
def config(tmp_path):
    path = tmp_path / "config.toml"
    path.write_text(CONFIG)
    return str(path)


def test_default_profile_applies_when_none_is_named(config):
    assert settings.resolve({}, config=config, env={})["data"] == "/data/default"


def test_precedence_flag_then_environment_then_profile(config):
    env = {"S3META_WORKGROUP": "from-env", "S3META_BUCKETS": "x-bucket, y-bucket"}
    resolved = settings.resolve({"timeout": 5}, config=config, profile="prod", env=env)
    assert resolved["engine"] == "athena" and resolved["timeout"] == 5.0
    assert resolved["workgroup"] == "from-env" and resolved["buckets"] == ["x-bucket", "y-bucket"]
    expected = {"workgroup": "from-env", "buckets": ["x-bucket", "y-bucket"], "timeout": 5.0}
    assert settings.engine_options(resolved) == ("athena", expected)


def test_profile_from_the_environment(config):
    assert settings.resolve({}, config=config, env={"S3META_PROFILE": "prod"})["engine"] == "athena"


@pytest.mark.parametrize("text,message", [
    ('[profiles.p]\nwrkgroup = "x"\n', "unknown setting 'wrkgroup'"),
    ('[profiles.p]\ntimeout = -1\n', "must be a positive number"),
    ('[profiles.p]\nbuckets = "a,b"\nengine = 5\n', "must be text"),
    ("[profiles\n", "cannot read config file"),
])
def test_bad_config_is_bad_input(tmp_path, text, message):
    path = tmp_path / "c.toml"
    path.write_text(text)
    with pytest.raises(BadInput, match=message):
        settings.resolve({}, config=str(path), profile="p", env={})


def test_missing_named_config_and_profile(tmp_path, config):
    with pytest.raises(BadInput, match="config file not found"):
        settings.resolve({}, config=str(tmp_path / "nope.toml"), env={})
    with pytest.raises(BadInput, match=r"no profile 'qa' \(profiles: default, prod\)"):
        settings.resolve({}, config=config, profile="qa", env={})


def test_no_config_file_is_fine_without_a_profile(tmp_path):
    env = {"XDG_CONFIG_HOME": str(tmp_path)}
    assert settings.resolve({"data": "d"}, env=env) == {"engine": "duckdb", "data": "d"}
    with pytest.raises(BadInput, match="profile 'prod' requested but there is no config file"):
        settings.resolve({}, profile="prod", env=env)


def test_unknown_engine():
    with pytest.raises(BadInput, match="unknown engine 'spark'"):
        settings.engine_options({"engine": "spark"})
