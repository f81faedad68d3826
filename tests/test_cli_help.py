"""The CLI helps: help with no command, "did you mean", a query's parameters, `info`, `list` by group."""

from __future__ import annotations

import json
from collections import Counter

import pytest

import analytics
from conftest import HAND_ANNOTATION, HAND_INVENTORY, HAND_JOURNAL, cli
from test_athena import RESULTS, can, received


def one_line(proc, code: int, fragment: str) -> str:
    assert proc.returncode == code, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("s3meta: error: ") and "Traceback" not in proc.stderr, proc.stderr
    assert fragment in lines[0], lines[0]
    return lines[0]


def test_no_command_prints_the_help():
    proc = cli()
    assert proc.returncode == 0 and proc.stdout.startswith("usage: s3meta") and "COMMAND" in proc.stdout
    assert "info" in proc.stdout and not proc.stderr


@pytest.mark.parametrize("args, fragment", [
    (["qurey", "recent_deletes"], "unknown command 'qurey'; did you mean 'query'?"),
    (["lst"], "did you mean 'list'?"),
    (["fixtures", "generat"], "fixtures: unknown command 'generat'; did you mean 'generate'?"),
    (["zzzz"], "unknown command 'zzzz'; commands: list, show, query"),
    (["list", "--formt", "json"], "unrecognized arguments: --formt json"),
])
def test_a_mistyped_command_gets_did_you_mean_on_one_line(args, fragment):
    one_line(cli(*args), 2, fragment)


def test_query_name_help_lists_its_parameters_with_types_and_defaults():
    proc = cli("query", "recent_deletes", "--help")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("usage: s3meta query")
    section = proc.stdout.split("parameters of recent_deletes")[1]
    assert "since   timestamp, default: 24h; start of the window" in section
    assert "until   timestamp, default: now" in section
    assert "bucket  bucket, default: none (all)" in section
    assert "a duration such as 90m, 24h, 7d" in section  # the form a timestamp takes
    required = cli("query", "key_version_history", "-h").stdout
    assert "key     key, required" in required or "key, required" in required
    # Without a name, the command's help alone; a mistyped name, the catalog's "did you mean".
    assert "parameters of" not in cli("query", "--help").stdout
    one_line(cli("query", "recent_deletez", "--help"), 2, "did you mean 'recent_deletes'")
    one_line(cli("query"), 2, "give a query NAME")


def test_list_groups_by_tag_and_keeps_the_detectors_apart():
    text = cli("list").stdout
    groups = [line for line in text.splitlines() if line and not line.startswith(" ")]
    assert groups[0] == "workshop:" and groups[-1].startswith("detector (internal: what `s3meta report` runs)")
    internal = text.split(groups[-1])[1]
    public = text.split(groups[-1])[0]
    assert "detect_activity" in internal and "detect_" not in public
    rows = json.loads(cli("list", "--format", "json").stdout)
    assert {r["name"] for r in rows if r["internal"]} == {r["name"] for r in rows if r["name"].startswith("detect_")}
    assert rows[0]["group"] == "workshop"


def test_list_tag_without_a_match_says_so_and_exits_2():
    one_line(cli("list", "--tag", "workshp"), 2, "no query is tagged 'workshp'; did you mean 'workshop'?")
    assert cli("list", "--tag", "workshop").returncode == 0


def test_info_tells_what_the_data_holds(hand_data):
    proc = cli("info", "--data", str(hand_data), "--format", "json")
    assert proc.returncode == 0, proc.stderr
    info = json.loads(proc.stdout)
    # Worked out from the rows the fixture wrote, not by SQL.
    times = [r["record_timestamp"] for r in HAND_JOURNAL]
    assert info["tables"] == ["journal", "inventory", "annotation"]
    assert info["first_record"] == min(times).isoformat() and info["last_record"] == max(times).isoformat()
    assert info["record_types"] == dict(Counter(r["record_type"] for r in HAND_JOURNAL))
    for table, rows in (("journal", HAND_JOURNAL), ("inventory", HAND_INVENTORY), ("annotation", HAND_ANNOTATION)):
        for bucket, n in Counter(r["bucket"] for r in rows).items():
            assert info["buckets"][bucket][table] == n
    text = cli("info", "--data", str(hand_data)).stdout
    assert "tables:  journal, inventory, annotation" in text
    assert "the whole journal: -p since=2025-11-19T23:59:59 -p until=2025-11-21T00:00:01" in text


def test_info_without_an_inventory(hand_data, tmp_path):
    import shutil
    shutil.copytree(hand_data / "journal", tmp_path / "journal")
    info = json.loads(cli("info", "--data", str(tmp_path), "--format", "json").stdout)
    assert info["tables"] == ["journal"] and set(info["buckets"]["vers-bucket"]) == {"journal"}


def test_info_on_athena_through_the_engine(aws):
    can(aws, [("table_schema", "varchar"), ("table_name", "varchar")],
        [["b_acme-prod-data", "journal"], ["b_acme-prod-data", "inventory"], ["b_acme-prod-data", "annotation"]])
    can(aws, [("bucket", "varchar"), ("record_type", "varchar"), ("records", "bigint"),
              ("first_record", "timestamp"), ("last_record", "timestamp")],
        [["acme-prod-data", "CREATE", "10", "2025-11-01 00:00:00.000", "2025-11-20 10:00:00.000"],
         ["acme-prod-data", "DELETE", "3", "2025-11-02 00:00:00.000", "2025-11-21 05:00:00.000"]])
    can(aws, [("bucket", "varchar"), ("records", "bigint")], [["acme-prod-data", "8"]])
    can(aws, [("bucket", "varchar"), ("records", "bigint")], [["acme-prod-data", "2"]])
    with analytics.connect("athena", buckets=["acme-prod-data"], output_location=RESULTS) as session:
        info = session.info()
        assert len(session.history) == 4  # the listing and the three tables' statements, each billed
        assert all("cost_usd" in s for s in session.history)
    assert info.to_dict() == {
        "engine": "athena", "tables": ["journal", "inventory", "annotation"],
        "first_record": "2025-11-01T00:00:00", "last_record": "2025-11-21T05:00:00",
        "record_types": {"CREATE": 10, "DELETE": 3},
        "buckets": {"acme-prod-data": {"journal": 13, "inventory": 8, "annotation": 2}}}
    import boto3
    ids = boto3.client("athena").list_query_executions()["QueryExecutionIds"]
    listing = [received(i) for i in ids if "information_schema" in received(i)["Query"]]
    assert len(listing) == 1
    # The namespace is bound, not pasted: Athena substitutes it as a literal.
    assert listing[0]["Query"].endswith("WHERE table_schema IN (?)")
    assert listing[0]["ExecutionParameters"] == ["'b_acme-prod-data'"]


def test_info_on_athena_lists_only_the_tables_every_bucket_has(aws):
    can(aws, [("table_schema", "varchar"), ("table_name", "varchar")],
        [["b_acme-prod-data", "journal"], ["b_acme_media", "journal"], ["b_acme-prod-data", "inventory"]])
    can(aws, [("bucket", "varchar"), ("record_type", "varchar"), ("records", "bigint"),
              ("first_record", "timestamp"), ("last_record", "timestamp")],
        [["acme-prod-data", "CREATE", "4", "2025-11-01 00:00:00.000", "2025-11-02 00:00:00.000"],
         ["acme.media", "CREATE", "6", "2025-11-03 00:00:00.000", "2025-11-04 00:00:00.000"]])
    env = {k: v for k, v in __import__("os").environ.items() if k.startswith("AWS_")}
    proc = cli("info", "--engine", "athena", "--bucket", "acme-prod-data", "--bucket", "acme.media",
               "--output-location", RESULTS, "--format", "json", env=env)
    assert proc.returncode == 0, proc.stderr
    info = json.loads(proc.stdout)
    assert "s3meta: info ran 2 queries; athena scanned 0 B, estimated $0.000095" in proc.stderr
    assert info["tables"] == ["journal"] and info["record_types"] == {"CREATE": 10}
    assert info["buckets"] == {"acme-prod-data": {"journal": 4}, "acme.media": {"journal": 6}}


def test_every_command_and_subcommand_has_help(capsys):
    import argparse

    from analytics.cli import build_parser

    def walk(parser, path):
        yield path
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                for name, sub in action.choices.items():
                    yield from walk(sub, [*path, name])

    paths = list(walk(build_parser(), []))
    assert ["info"] in paths and ["fixtures", "incidents"] in paths
    for path in paths:
        with pytest.raises(SystemExit) as done:
            args = build_parser().parse_args([*path, "--help"])
            raise SystemExit(args.handler(args))  # `query --help` is the command's own flag
        assert done.value.code == 0, path
        assert capsys.readouterr().out.startswith(f"usage: s3meta {' '.join(path)}".rstrip()), path
