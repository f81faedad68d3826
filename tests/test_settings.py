"""Engine settings: flags beat the environment, which beats the config profile."""

from __future__ import annotations

import json
import os

import pytest

import analytics
from analytics import settings
from analytics.errors import BadInput
from conftest import cli

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


# --- every way of naming a config file and a profile, through the CLI, the API and the magic -------------
#
# The session runs with a hostile ~/.config/s3meta/config.toml (conftest.HOSTILE_CONFIG): its default
# profile reads namespace b_other, its prod profile b_wrong_prod. The user's own file, MINE, has a default
# and a prod profile of its own. What reaches Athena's execution context (Database) shows which won.

MINE = """
[profiles.default]
engine = "athena"
buckets = ["mine-default"]

[profiles.prod]
engine = "athena"
buckets = ["prod-bucket"]
region = "us-east-1"
"""

# (id, how the user names things, the Database the statement runs in, or the error it must stop with)
CASES = [
    ("nothing named: the default file's default profile", {}, "b_other"),
    ("--profile alone: the default file's profile", {"profile": "prod"}, "b_wrong_prod"),
    ("--config: that file's default profile", {"config": True}, "b_mine-default"),
    ("--config and --profile", {"config": True, "profile": "prod"}, "b_prod-bucket"),
    ("--config and S3META_PROFILE", {"config": True, "env": {"S3META_PROFILE": "prod"}}, "b_prod-bucket"),
    ("S3META_CONFIG and --profile", {"env": {"S3META_CONFIG": True}, "profile": "prod"}, "b_prod-bucket"),
    ("S3META_CONFIG and S3META_PROFILE", {"env": {"S3META_CONFIG": True, "S3META_PROFILE": "prod"}},
     "b_prod-bucket"),
    ("--config beats S3META_CONFIG", {"config": True, "profile": "prod",
                                      "env": {"S3META_CONFIG": "/nonexistent/other.toml"}}, "b_prod-bucket"),
    ("--profile beats S3META_PROFILE", {"config": True, "profile": "prod", "env": {"S3META_PROFILE": "qa"}},
     "b_prod-bucket"),
    ("profile plus an explicit bucket", {"config": True, "profile": "prod", "flags": {"buckets": ["flag.bucket"]}},
     "b_flag_bucket"),
    ("profile plus an explicit namespace", {"config": True, "profile": "prod", "flags": {"namespace": "b_legacy1a2b"}},
     "b_legacy1a2b"),
    ("default profile plus an explicit bucket: its namespace does not apply", {"flags": {"buckets": ["mine"]}},
     "b_mine"),
    ("the environment beats the profile", {"config": True, "profile": "prod", "env": {"S3META_BUCKETS": "env-bucket"}},
     "b_env-bucket"),
    ("a flag beats the environment", {"config": True, "profile": "prod", "env": {"S3META_BUCKETS": "env-bucket"},
                                      "flags": {"buckets": ["flag-bucket"]}}, "b_flag-bucket"),
    ("a missing profile in the file the user chose", {"config": True, "profile": "qa"},
     BadInput("MINE: no profile 'qa' (profiles: default, prod)")),
    ("a missing profile from S3META_PROFILE in the file the user chose",
     {"config": True, "env": {"S3META_PROFILE": "qa"}}, BadInput("MINE: no profile 'qa' (profiles: default, prod)")),
    ("a missing config file the user named", {"config": "/nonexistent/named.toml"},
     BadInput("config file not found: /nonexistent/named.toml")),
]
IDS = [c[0] for c in CASES]


@pytest.fixture
def mine(tmp_path):
    path = tmp_path / "mine.toml"
    path.write_text(MINE, encoding="utf-8")
    return path


def _naming(how: dict, mine) -> tuple[str | None, str | None, dict[str, str], dict]:
    config = str(mine) if how.get("config") is True else how.get("config")
    env = {k: (str(mine) if v is True else v) for k, v in how.get("env", {}).items()}
    return config, how.get("profile"), env, how.get("flags", {})


def _expected_error(expected: BadInput, mine) -> str:
    return str(expected).replace("MINE", str(mine))


@pytest.mark.parametrize("how,expected", [c[1:] for c in CASES], ids=IDS)
def test_cli_uses_the_profile_the_user_names(how, expected, mine):
    config, profile, env, flags = _naming(how, mine)
    args = ["show", "recent_deletes", "--render"]
    args += [f for bucket in flags.get("buckets", []) for f in ("--bucket", bucket)]
    args += ["--namespace", flags["namespace"]] if "namespace" in flags else []
    before = (["--config", config] if config else []) + (["--profile", profile] if profile else [])
    proc = cli(*before, *args, env=env)
    if isinstance(expected, BadInput):
        assert proc.returncode == 2 and proc.stderr.strip() == f"s3meta: error: {_expected_error(expected, mine)}"
        return
    assert proc.returncode == 0, proc.stderr
    context = json.loads(proc.stdout.split("-- context (athena): ")[1].splitlines()[0])
    assert context["Database"] == expected


@pytest.mark.parametrize("how,expected", [c[1:] for c in CASES], ids=IDS)
def test_api_uses_the_profile_the_user_names(how, expected, mine, monkeypatch):
    config, profile, env, flags = _naming(how, mine)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    if isinstance(expected, BadInput):
        with pytest.raises(BadInput) as err:
            analytics.connect(config=config, profile=profile, **flags)
        assert str(err.value) == _expected_error(expected, mine)
        return
    with analytics.connect(config=config, profile=profile, **flags) as session:
        assert session.render("recent_deletes").context["Database"] == expected


@pytest.mark.parametrize("how,expected", [c[1:] for c in CASES], ids=IDS)
def test_magic_uses_the_profile_the_user_names(how, expected, mine, monkeypatch):
    pytest.importorskip("IPython")
    from analytics import notebook

    config, profile, env, flags = _naming(how, mine)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    line = "connect"
    line += f" --config {config}" if config else ""
    line += f" --profile {profile}" if profile else ""
    line += "".join(f" --bucket {b}" for b in flags.get("buckets", []))
    line += f" --namespace {flags['namespace']}" if "namespace" in flags else ""
    magic = notebook.Magic({})
    try:
        if isinstance(expected, BadInput):
            with pytest.raises(BadInput) as err:
                magic(line)
            assert str(err.value) == _expected_error(expected, mine)
            return
        magic(line)
        assert magic.session.render("recent_deletes").context["Database"] == expected
    finally:
        magic._close()


def test_the_hostile_default_profile_is_what_tests_run_with(hostile_config):
    # The guard behind every test above: no test can read the developer's own ~/.config.
    assert settings.config_path(env=os.environ) == (hostile_config, False)
    assert "b_other" in hostile_config.read_text(encoding="utf-8")


def test_a_data_folder_means_duckdb_at_the_level_it_is_given(hand_data, monkeypatch):
    # The hostile default profile says athena; a data folder given as a flag or in the environment
    # means local Parquet, unless the same level (or a higher one) names the engine.
    monkeypatch.setenv("S3META_DATA", str(hand_data))
    with analytics.connect() as session:
        assert session.engine.name == "duckdb"
    proc = cli("sql", "SELECT count(*) AS n FROM inventory", "--format", "json", env={"S3META_DATA": str(hand_data)})
    assert proc.returncode == 0 and json.loads(proc.stdout) == [{"n": 6}], proc.stderr
    monkeypatch.setenv("S3META_ENGINE", "athena")
    monkeypatch.setenv("S3META_BUCKETS", "env-bucket")
    with analytics.connect() as session:
        assert session.engine.name == "athena"


def test_settings_that_say_where_the_tables_are_come_from_one_level(tmp_path):
    path = tmp_path / "c.toml"
    path.write_text('[profiles.default]\ndata = "/p"\niceberg = ["journal=/x.metadata.json"]\n'
                    'buckets = ["profile-bucket"]\nnamespace = "b_profile"\n', encoding="utf-8")
    given_report = settings.resolve({"inventory_report": ["/r"]}, config=str(path), env={})
    assert given_report["inventory_report"] == ["/r"] and "data" not in given_report and "iceberg" not in given_report
    given_bucket = settings.resolve({"buckets": ["x"]}, config=str(path), env={"S3META_NAMESPACE": "b_env"})
    assert given_bucket["buckets"] == ["x"] and "namespace" not in given_bucket
    env_namespace = settings.resolve({}, config=str(path), env={"S3META_NAMESPACE": "b_env"})
    assert env_namespace["namespace"] == "b_env" and "buckets" not in env_namespace
    assert settings.resolve({}, config=str(path), env={})["data"] == "/p"  # nothing higher: the profile's own


def test_the_flags_and_the_magic_options_come_from_the_one_table():
    from analytics import cli
    from analytics.engines import REGISTRY

    assert set(settings.ENGINES) == set(REGISTRY)
    for command in ("show", "query", "sql", "restore-plan", "report"):
        help_text = cli.build_parser()._subparsers._group_actions[0].choices[command].format_help()
        for s in settings.SETTINGS.values():
            assert s.option in help_text, (command, s.option)
    pytest.importorskip("IPython")
    from analytics import notebook

    options = {a.dest for a in notebook._command_parser("connect")._actions}
    assert set(settings.SETTINGS) | {"config", "profile"} <= options


@pytest.mark.parametrize("value", ["nan", "inf", "-1", "0"])
def test_a_timeout_must_be_a_positive_finite_number(value):
    with pytest.raises(BadInput, match=r"setting 'timeout' must be a positive number"):
        settings.resolve({"timeout": float(value)}, env={"XDG_CONFIG_HOME": "/nonexistent"})


# --- one config document: `s3meta --config F report` is `s3meta report --config F` --------------------------

def _report_config(tmp_path, hand_data, name="both.toml"):
    path = tmp_path / name
    path.write_text(f'[profiles.default]\ndata = "{hand_data}"\n\n[profiles.p]\ndata = "{hand_data}"\n\n'
                    '[report]\nfail_on = "critical"\n\n[report.detectors.unattributed_deletes]\nenabled = false\n',
                    encoding="utf-8")
    return path


WINDOW_ARGS = ["--since", "2025-11-20T00:00:00", "--until", "2025-11-21T00:00:00"]


def test_config_before_or_after_the_command_is_one_file_for_profiles_and_report(tmp_path, hand_data):
    config = _report_config(tmp_path, hand_data)
    runs = [cli("--config", str(config), "report", *WINDOW_ARGS),
            cli("report", "--config", str(config), *WINDOW_ARGS),
            cli("--config", str(config), "report", "--config", str(config), *WINDOW_ARGS),
            cli("report", "--config", str(config), "--profile", "p", *WINDOW_ARGS),
            cli("--profile", "p", "report", "--config", str(config), *WINDOW_ARGS)]
    docs = []
    for proc in runs:
        assert proc.returncode == 0, proc.stderr  # fail_on critical came from the same file as the data folder
        docs.append(json.loads(proc.stdout))
    assert all(doc["findings"] == docs[0]["findings"] for doc in docs)
    assert "unattributed_deletes" not in {f["detector"] for f in docs[0]["findings"]}


def test_two_different_config_files_on_one_line_are_refused(tmp_path, hand_data):
    first, second = _report_config(tmp_path, hand_data), _report_config(tmp_path, hand_data, "other.toml")
    proc = cli("--config", str(first), "report", "--config", str(second), *WINDOW_ARGS)
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1, proc.stderr
    assert "--config given twice" in proc.stderr and "one config file holds both" in proc.stderr
    proc = cli("--profile", "p", "query", "recent_deletes", "--profile", "default", "--config", str(first))
    assert proc.returncode == 2 and "--profile given twice" in proc.stderr


def test_the_config_document_is_parsed_once_per_run(tmp_path, hand_data, monkeypatch, capsys):
    from analytics import cli as command

    config = _report_config(tmp_path, hand_data)
    import tomllib

    parsed = []
    real = tomllib.loads
    monkeypatch.setattr(tomllib, "loads", lambda text: parsed.append(text) or real(text))
    assert command.main(["report", "--config", str(config), *WINDOW_ARGS]) == 0
    assert len(parsed) == 1 and json.loads(capsys.readouterr().out)["window"]["since"] == "2025-11-20T00:00:00"
