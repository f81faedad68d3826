"""Detections as SQL files: loading and checking rules, the three shipped examples on both engines,
and rule findings stated, deduplicated and notified like the built-in ones."""

from __future__ import annotations

import base64
import glob
import ipaddress
import json
import urllib.request
from datetime import datetime, timedelta

import pyarrow.parquet as pq
import pytest

import analytics
from analytics import fixtures, report
from analytics.detectors import severity_rank
from analytics.errors import CatalogError
from analytics.report import notify, rules
from conftest import HAND_INVENTORY, ROOT, SCRIPT_KEY, cli, write_tables
from test_athena import can, received

EXAMPLES = ROOT / "examples" / "rules"
END = datetime(2025, 11, 30)
COMPANY = [ipaddress.ip_network(n) for n in ("10.0.0.0/8", "172.16.0.0/12", "192.0.2.0/24", "2001:db8::/32")]


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    out = tmp_path_factory.mktemp("rules-data")
    manifest = fixtures.generate(out, rows=12000, seed=5, days=14, end=END)
    inventory = fixtures.write_inventory_report(out, tmp_path_factory.mktemp("rules-inventory"),
                                                formats=("parquet",))["parquet"]
    return out, inventory, manifest


def window(manifest):
    start = datetime.fromisoformat(manifest["incidents"]["mass_delete"]["since"])
    return start - timedelta(hours=12), start + timedelta(hours=12)


def journal(out):
    return pq.read_table(sorted(glob.glob(str(out / "journal" / "**" / "*.parquet"), recursive=True))).to_pylist()


def by_detector(found, name):
    return {f.subject: f for f in found if f.detector == f"rule:{name}"}


@pytest.fixture(scope="module")
def examples_run(data):
    """One report over the generated data, with the three example rules and nothing else changed."""
    out, inventory, manifest = data
    since, until = window(manifest)
    config = report.Config(rules=report.load_rules(EXAMPLES))
    with analytics.connect(data=out, inventory_report=str(inventory)) as session:
        return report.run(session, since=since, until=until, config=config)


# --- the shipped examples, on DuckDB over generated data ------------------------------------------------

def test_the_examples_load(data):
    loaded = {r.name: r for r in report.load_rules(EXAMPLES)}
    assert sorted(loaded) == ["legal_hold_deletes", "public_inventory_grants", "uploads_outside_cidrs"]
    assert loaded["legal_hold_deletes"].severity == "critical"
    assert loaded["public_inventory_grants"].fingerprint == ("bucket", "key", "version_id", "permission")
    assert {p.name for p in loaded["public_inventory_grants"].query.params} == {"bucket"}  # a snapshot: no window


def test_legal_hold_deletes_finds_every_delete_under_the_prefixes(data, examples_run):
    out, _, manifest = data
    since, until = window(manifest)
    expected: dict[tuple, list] = {}
    for r in journal(out):
        if r["record_type"] == "DELETE" and r["key"].startswith(("finance/", "litigation/")) \
                and since <= r["record_timestamp"] < until:
            prefix = "finance/" if r["key"].startswith("finance/") else "litigation/"
            expected.setdefault((r["bucket"], prefix, r["requester"], r["source_ip_address"]), []).append(r)
    found = by_detector(examples_run.findings, "legal_hold_deletes")
    incident = manifest["incidents"]["mass_delete"]
    assert (incident["bucket"], "finance/", incident["actor"], incident["ip"]) in found  # the planted mass delete
    assert set(found) == set(expected)
    for subject, rows in expected.items():
        f = found[subject]
        assert f.evidence["deletes"] == len(rows) and f.severity == "critical"
        assert f.first_seen == min(r["record_timestamp"] for r in rows)
        assert f.last_seen == max(r["record_timestamp"] for r in rows)
        assert f.title.startswith(f"{len(rows)} deletes under legal-hold prefix finance/ in {subject[0]}")


def test_uploads_outside_cidrs_matches_pythons_ipaddress(data, examples_run):
    out, _, manifest = data
    since, until = window(manifest)
    expected: dict[tuple, list] = {}
    for r in journal(out):
        ip = r["source_ip_address"]
        if r["record_type"] != "CREATE" or ip is None or not since <= r["record_timestamp"] < until:
            continue
        if (r["requester"] or "").endswith(".amazonaws.com"):
            continue
        if any(ipaddress.ip_address(ip) in net for net in COMPANY if net.version == ipaddress.ip_address(ip).version):
            continue
        expected.setdefault((r["bucket"], ip, r["requester"]), []).append(r)
    found = by_detector(examples_run.findings, "uploads_outside_cidrs")
    assert expected and set(found) == set(expected)
    for subject, rows in expected.items():
        assert found[subject].evidence["uploads"] == len(rows)
        assert found[subject].evidence["bytes"] == sum(r["size"] or 0 for r in rows)
    # The planted malware upload came from 198.51.100.0/24, which is not the company's.
    malware = manifest["incidents"]["malware_upload"]
    if since <= datetime.fromisoformat(malware["uploaded"]) < until:
        assert (malware["bucket"], malware["ip"], malware["requester"]) in found


def test_public_inventory_grants_lists_every_allusers_grant(data, examples_run):
    out, _, _ = data
    expected = set()
    for r in fixtures.report_rows(out).to_pylist():
        if r["object_access_control_list"]:
            for g in json.loads(base64.b64decode(r["object_access_control_list"]))["grants"]:
                if g.get("uri", "").endswith("/AllUsers"):
                    expected.add((r["bucket"], r["key"], r["version_id"], g["permission"]))
    found = by_detector(examples_run.findings, "public_inventory_grants")
    assert expected and set(found) == expected
    f = next(iter(found.values()))
    # No time column: the finding is dated at the end of the window, as a snapshot is.
    assert f.first_seen == f.last_seen == examples_run.until and f.severity == "high"


def test_rule_findings_are_in_the_report_outputs(examples_run):
    doc = json.loads(examples_run.to_json())
    detectors = {f["detector"] for f in doc["findings"]}
    assert {"rule:legal_hold_deletes", "rule:uploads_outside_cidrs", "rule:public_inventory_grants"} <= detectors
    assert "mass_delete" in detectors  # the built-ins still run beside the rules
    ranks = [severity_rank(f["severity"]) for f in doc["findings"]]
    assert ranks == sorted(ranks, reverse=True)  # rules are ordered with the rest, worst first
    assert "rule:legal\\_hold\\_deletes" in examples_run.render("markdown")  # Markdown escapes _
    assert "rule:legal_hold_deletes" in examples_run.render("html")


# --- stated, deduplicated and notified like the built-in detectors ------------------------------------------

def test_rule_findings_are_stated_and_notified(data, tmp_path):
    out, _, manifest = data
    since, until = window(manifest)
    config = report.Config(rules=(rules.parse(EXAMPLES / "legal_hold_deletes.sql"),))
    state = tmp_path / "state.json"
    with analytics.connect(data=out) as session:
        first = report.run(session, since=since, until=until, config=config, state=state)
        mine = [f for f in first.findings if f.detector == "rule:legal_hold_deletes"]
        assert mine and all(f.new for f in mine)
        message = notify.payload(first, "critical")
        assert {f.fingerprint for f in mine} <= {f["fingerprint"] for f in message["findings"]}
        first.commit()
        # The next run re-reads the same window: the same deletes are the same findings, not new ones.
        second = report.run(session, since=since, until=until, config=config, state=state)
    again = [f for f in second.findings if f.detector == "rule:legal_hold_deletes"]
    assert {f.fingerprint for f in again} == {f.fingerprint for f in mine}
    assert not [f for f in again if f.new]


def test_rows_sharing_a_fingerprint_are_one_finding(tmp_path):
    (tmp_path / "by_bucket.sql").write_text(
        "-- Every delete.\n--\n-- @severity low\n-- @title deletes in {bucket}\n-- @runbook Look.\n"
        "-- @fingerprint bucket\n-- @param since timestamp = 24h: start\n-- @param until timestamp = now: end\n"
        "SELECT bucket, key, record_timestamp FROM journal WHERE record_type = 'DELETE'\n"
        "  AND record_timestamp >= :since AND record_timestamp < :until ORDER BY key\n", encoding="utf-8")
    rule = rules.parse(tmp_path / "by_bucket.sql")
    t = datetime(2025, 11, 20, 12)
    rows = [{"bucket": "b", "key": "a", "record_timestamp": t},
            {"bucket": "b", "key": "c", "record_timestamp": t + timedelta(hours=1)},
            {"bucket": "x", "key": "z", "record_timestamp": t}]
    found = {f.bucket: f for f in rules.to_findings(rule, rows, t + timedelta(days=1))}
    assert found["b"].evidence["matching_rows"] == 2 and found["b"].evidence["key"] == "a"
    assert (found["b"].first_seen, found["b"].last_seen) == (t, t + timedelta(hours=1))
    assert "matching_rows" not in found["x"].evidence and found["b"].fingerprint != found["x"].fingerprint


def test_titles_are_one_line_and_escaped_where_rendered(tmp_path):
    hostile = '<img src=x onerror=alert(1)>\n"quoted"'
    t = datetime(2025, 11, 20, 12)
    rows = [dict(bucket="b", key=key, sequence_number=f"{i:04d}", record_type="CREATE", record_timestamp=t,
                 e_tag="e", size=1, requester="111122223333", source_ip_address="198.51.100.7")
            for i, key in enumerate([hostile, SCRIPT_KEY])]
    write_tables(tmp_path / "d", rows, HAND_INVENTORY)
    (tmp_path / "rules").mkdir()
    (tmp_path / "rules" / "new_keys.sql").write_text(
        "-- New keys.\n--\n-- @severity medium\n-- @title new key {key} in {bucket}\n-- @runbook Look at {it}.\n"
        "-- @fingerprint bucket, key\n-- @param since timestamp = 24h: start\n-- @param until timestamp = now: end\n"
        "SELECT bucket, key, record_timestamp FROM journal WHERE record_type = 'CREATE'\n"
        "  AND record_timestamp >= :since AND record_timestamp < :until\n", encoding="utf-8")
    config = report.Config(rules=report.load_rules(tmp_path / "rules"))
    with analytics.connect(data=tmp_path / "d", clock=lambda: t + timedelta(hours=1)) as session:
        r = report.run(session, since="24h", config=config)
    titles = [f.title for f in r.findings if f.detector == "rule:new_keys"]
    assert "new key <img src=x onerror=alert(1)>\\n\"quoted\" in b" in titles  # one line, as it is
    assert f"new key {SCRIPT_KEY} in b" in titles
    page, md = r.render("html"), r.render("markdown")
    assert "<img" not in page and "<script>" not in page and "&lt;img src=x onerror=alert(1)&gt;" in page
    assert "<img" not in md and "<script>" not in md


# --- the CLI: --rules, [report] rules, and errors at load -----------------------------------------------------

def test_cli_rules_flag_and_config_key(data, tmp_path):
    out, inventory, manifest = data
    since, until = window(manifest)
    base = ["report", "--data", str(out), "--inventory-report", str(inventory), "--since", since.isoformat(),
            "--until", until.isoformat()]
    proc = cli(*base, "--rules", str(EXAMPLES))
    assert proc.returncode == 1, proc.stderr
    by_flag = [f for f in json.loads(proc.stdout)["findings"] if f["detector"].startswith("rule:")]
    assert {f["detector"] for f in by_flag} == {"rule:legal_hold_deletes", "rule:uploads_outside_cidrs",
                                                "rule:public_inventory_grants"}
    # In the config file, a relative folder is read from the config file's own folder, wherever the run starts.
    (tmp_path / "conf" / "my-rules").mkdir(parents=True)
    (tmp_path / "conf" / "my-rules" / "legal_hold_deletes.sql").write_text(
        (EXAMPLES / "legal_hold_deletes.sql").read_text(encoding="utf-8"), encoding="utf-8")
    config = tmp_path / "conf" / "config.toml"
    config.write_text('[report]\nrules = "my-rules"\n', encoding="utf-8")
    proc = cli(*base, "--config", str(config))
    assert proc.returncode == 1, proc.stderr
    by_config = {f["detector"] for f in json.loads(proc.stdout)["findings"] if f["detector"].startswith("rule:")}
    assert by_config == {"rule:legal_hold_deletes"}
    # The flag replaces the config's folders.
    proc = cli(*base, "--config", str(config), "--rules", str(EXAMPLES))
    assert {f["fingerprint"] for f in json.loads(proc.stdout)["findings"] if f["detector"].startswith("rule:")} == \
        {f["fingerprint"] for f in by_flag}


GOOD = {"title": "One.", "severity": "@severity high", "title_line": "@title {n} rows in {bucket}",
        "runbook": "@runbook Look.", "fingerprint": "@fingerprint bucket",
        "params": "@param since timestamp = 24h: start\n-- @param until timestamp = now: end",
        "sql": "SELECT bucket, count(*) AS n FROM journal\nWHERE record_timestamp >= :since AND "
               "record_timestamp < :until\nGROUP BY bucket"}


def rule_text(**changes) -> str:
    parts = {**GOOD, **changes}
    header = [parts["title"], "", parts["severity"], parts["title_line"], parts["runbook"], parts["fingerprint"],
              parts["params"], *parts.get("extra", [])]
    return "".join(f"-- {line}\n" if line else "--\n" for line in header if line is not None) + parts["sql"] + "\n"


BAD_RULES = [
    ({"severity": None}, "a rule needs @severity"),
    ({"severity": "@severity urgent"}, "@severity must be one of info, low, medium, high, critical (got 'urgent')"),
    ({"title_line": None}, "a rule needs @title"),
    ({"runbook": None}, "a rule needs @runbook"),
    ({"fingerprint": None}, "a rule needs @fingerprint"),
    ({"extra": ["@severity low"]}, "@severity given twice"),
    ({"extra": ["@owner secops"]}, "unknown header directive '@owner'"),
    ({"title_line": "@title {n} rows by {requester}"},
     "@title names column 'requester', which the query does not return (columns: bucket, n)"),
    ({"title_line": "@title {n:>5} rows"}, "@title fields are plain column names such as {key} (got {n:>5})"),
    ({"title_line": "@title {row.n} rows"}, "@title fields are plain column names"),
    ({"title_line": "@title {n rows"}, "@title is not a valid template"),
    ({"fingerprint": "@fingerprint bucket, keyy"}, "@fingerprint names column 'keyy', which the query does not return"),
    ({"fingerprint": "@fingerprint bucket,,n"}, "@fingerprint must list column names"),
    ({"params": "@param since timestamp = 24h: start\n-- @param until timestamp = now: end\n"
                "-- @param prefix prefix = null: a prefix",
      "sql": GOOD["sql"].replace("GROUP BY", "AND (:prefix IS NULL OR starts_with(key, :prefix))\nGROUP BY")},
     "rules take only since, until and bucket (got parameter 'prefix')"),
    ({"params": "@param since string = 24h: start\n-- @param until timestamp = now: end"},
     "parameter 'since' must have type timestamp (got string)"),
    ({"params": "@param since timestamp = 24h: start\n-- @param until timestamp = now: end\n-- @param bucket bucket: b",
      "sql": GOOD["sql"].replace("GROUP BY", "AND bucket = :bucket\nGROUP BY")},
     "parameter 'bucket' needs a default"),
    ({"params": "@param since timestamp = 24h: start"}, "parameters differ between header and SQL"),
    ({"sql": "DELETE FROM journal WHERE record_timestamp >= :since AND record_timestamp < :until"},
     "a rule is one SELECT"),
    ({"sql": "SELECT bucket, :since AS n FROM journal WHERE record_timestamp < :until GROUP BY bucket"},
     "a parameter may only appear in a WHERE clause"),
    ({"sql": "SELECT * FROM my_table WHERE record_timestamp >= :since AND record_timestamp < :until"},
     "name every result column"),
    ({"sql": "SELECT bucket, count(*) FROM journal WHERE record_timestamp >= :since AND record_timestamp < :until "
             "GROUP BY bucket", "title_line": "@title rows in {bucket}"}, "name every result column"),
    ({"sql": "SELEC bucket FROM journal WHERE record_timestamp >= :since AND record_timestamp < :until"},
     "invalid SQL"),
]


@pytest.mark.parametrize("changes, message", BAD_RULES, ids=[m for _, m in BAD_RULES])
def test_bad_rules_are_one_line_errors_at_load(changes, message, tmp_path):
    folder = tmp_path / "rules"
    folder.mkdir()
    (folder / "bad_rule.sql").write_text(rule_text(**changes), encoding="utf-8")
    with pytest.raises(CatalogError) as err:
        report.load_rules(folder)
    assert message in str(err.value) and str(err.value).startswith("bad_rule.sql: ") and "\n" not in str(err.value)


def test_bad_rules_stop_the_cli_before_any_query_with_exit_2(tmp_path):
    folder = tmp_path / "rules"
    folder.mkdir()
    (folder / "bad_rule.sql").write_text(rule_text(severity="@severity urgent"), encoding="utf-8")
    # No data folder at all: the rules are checked before a session is opened.
    proc = cli("report", "--engine", "duckdb", "--data", str(tmp_path / "nothing-here"), "--rules", str(folder))
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1, proc.stderr
    assert proc.stderr == "s3meta: error: bad_rule.sql: @severity must be one of info, low, medium, high, critical " \
                          "(got 'urgent')\n"
    for target, message in ((tmp_path / "missing", "rules folder not found"), (tmp_path, "no rule files (*.sql)")):
        proc = cli("report", "--data", str(tmp_path), "--rules", str(target))
        assert proc.returncode == 2 and message in proc.stderr and proc.stderr.count("\n") == 1, proc.stderr
    good = tmp_path / "good"
    good.mkdir()
    (good / "bad_rule.sql").write_text(rule_text(), encoding="utf-8")
    proc = cli("report", "--data", str(tmp_path), "--rules", str(good), "--rules", str(good))
    assert proc.returncode == 2 and "a rule named 'bad_rule' is already loaded" in proc.stderr


def test_a_rule_that_fails_when_it_runs_is_named(data):
    out, _, manifest = data
    since, until = window(manifest)
    # No --inventory-report: the public grants rule has no table to read.
    proc = cli("report", "--data", str(out), "--rules", str(EXAMPLES), "--since", since.isoformat(),
               "--until", until.isoformat())
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1, proc.stderr
    assert proc.stderr.startswith("s3meta: error: rule 'public_inventory_grants': no inventory_report table")


def test_the_examples_are_found_from_the_package():
    assert sorted(p.name for p in rules.examples_dir().glob("*.sql")) == sorted(p.name for p in EXAMPLES.glob("*.sql"))


# --- the same examples on Athena, against moto ----------------------------------------------------------------

RESULTS = "s3://athena-results/out/"
CANNED = {
    "legal_hold_deletes": (
        [("bucket", "varchar"), ("prefix", "varchar"), ("requester", "varchar"), ("source_ip_address", "varchar"),
         ("deletes", "bigint"), ("sample_key", "varchar"), ("first_seen", "timestamp"), ("last_seen", "timestamp")],
        [["acme-prod-data", "finance/", "999988887777", "203.0.113.66", "40", "finance/2025/q4/ledger-1.csv",
          "2025-11-20 10:00:00.000", "2025-11-20 10:14:00.000"],
         ["acme-prod-data", "finance/", None, None, "2", "finance/a,b\nc.csv", "2025-11-20 11:00:00.000",
          "2025-11-20 11:00:05.000"]]),
    "public_inventory_grants": (
        [("bucket", "varchar"), ("key", "varchar"), ("version_id", "varchar"), ("permission", "varchar"),
         ("object_owner", "varchar")],
        [["acme-prod-data", "uploads/<b>public</b>.png", None, "READ", "79a59df9"]]),
    "uploads_outside_cidrs": (
        [("bucket", "varchar"), ("source_ip_address", "varchar"), ("requester", "varchar"), ("uploads", "bigint"),
         ("bytes", "bigint"), ("sample_key", "varchar"), ("first_seen", "timestamp"), ("last_seen", "timestamp")],
        [["acme-prod-data", "198.51.100.7", "111122223333", "3", "3072", "uploads/x.bin", "2025-11-20 09:00:00.000",
          "2025-11-20 09:30:00.000"]]),
}
ATHENA_WINDOW = {"since": datetime(2025, 11, 20), "until": datetime(2025, 11, 21)}


def athena_session(**options):
    return analytics.connect("athena", buckets=["acme-prod-data"], output_location=RESULTS,
                             clock=lambda: datetime(2025, 11, 21), **options)


@pytest.mark.parametrize("name", sorted(CANNED))
def test_each_example_rule_on_athena(aws, name):
    rule = rules.parse(EXAMPLES / f"{name}.sql")
    columns, rows = CANNED[name]
    can(aws, columns, rows)
    with athena_session() as session:
        found = rules.findings([rule], lambda q, values: session.run(q, values).rows(), ATHENA_WINDOW)
        sent = received(session.history[-1]["query_execution_id"])
        expected_text = session.render(rule.query, {k: v for k, v in ATHENA_WINDOW.items()
                                                    if k in {p.name for p in rule.query.params}}).sql
    # The rule's own text, parameters bound by Athena, in the bucket's namespace.
    assert sent["Query"] == expected_text and "?" in expected_text
    assert sent["QueryExecutionContext"] == {"Catalog": "s3tablescatalog/aws-s3", "Database": "b_acme-prod-data"}
    window = ["TIMESTAMP '2025-11-20 00:00:00.000'", "TIMESTAMP '2025-11-21 00:00:00.000'"]
    assert sent["ExecutionParameters"] == (["null", "null"] if name == "public_inventory_grants"
                                           else window + ["null", "null"])
    assert len(found) == len(rows) and {f.severity for f in found} == {rule.severity}
    assert all(f.detector == f"rule:{name}" and f.bucket == "acme-prod-data" for f in found)
    if name == "legal_hold_deletes":
        unattributed = next(f for f in found if f.subject[2] is None)
        assert unattributed.title == "2 deletes under legal-hold prefix finance/ in acme-prod-data by NULL from NULL"
        assert unattributed.first_seen == datetime(2025, 11, 20, 11) and unattributed.evidence["deletes"] == 2


def test_a_report_with_rules_on_athena(aws):
    config = report.Config(rules=report.load_rules(EXAMPLES))
    # With nothing canned every query answers no rows: count the queries before the rules, then can those
    # empty and the rules' results after them (rules run last, in file name order).
    with athena_session() as session:
        counted = report.run(session, since=ATHENA_WINDOW["since"], until=ATHENA_WINDOW["until"], config=config)
    before = counted.stats["queries"] - len(config.rules)
    assert counted.stats["engine"] == "athena" and before >= 1
    urllib.request.urlopen(urllib.request.Request(aws + "/moto-api/reset", method="POST"))
    import boto3
    boto3.client("s3").create_bucket(Bucket="athena-results")
    for _ in range(before):
        can(aws, [], [])
    for rule in config.rules:
        can(aws, *CANNED[rule.name])
    with athena_session() as session:
        r = report.run(session, since=ATHENA_WINDOW["since"], until=ATHENA_WINDOW["until"], config=config)
    found = {f.detector: f for f in r.findings}
    assert {"rule:legal_hold_deletes", "rule:public_inventory_grants", "rule:uploads_outside_cidrs"} <= set(found)
    assert found["rule:public_inventory_grants"].title == \
        "uploads/<b>public</b>.png in acme-prod-data grants READ to everyone (AllUsers)"
    assert "&lt;b&gt;public&lt;/b&gt;" in r.render("html") and "<b>public" not in r.render("html")
    assert r.exit_code() == 1 and r.stats["cost_usd"] > 0


def test_a_rule_runs_only_with_the_values_it_declares(tmp_path):
    rule = rules.parse(EXAMPLES / "public_inventory_grants.sql")
    seen = []
    rules.findings([rule], lambda q, values: seen.append(values) or [], ATHENA_WINDOW)
    assert seen == [{}]  # no window for a snapshot; bucket keeps its default (NULL: every bucket)
    with pytest.raises(CatalogError, match="the query returned no column 'permission'"):
        rules.findings([rule], lambda q, values: [{"bucket": "b", "key": "k", "version_id": None}], ATHENA_WINDOW)
