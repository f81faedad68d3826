"""The Athena engine against a moto server on 127.0.0.1 (real HTTP, real boto3), and offline rendering."""

from __future__ import annotations

import datetime as dt
import io
import json
import urllib.request

import boto3
import pytest
from botocore.response import StreamingBody
from botocore.stub import Stubber

import analytics
from analytics.catalog import placeholders
from analytics.engines.athena import AthenaEngine, estimated_cost, namespace_for
from analytics.errors import BadInput, Interrupted, QueryFailed
from conftest import cli

RESULTS = "s3://athena-results/out/"


def column(name, type_):
    return {"Name": name, "Label": name, "Type": type_, "Precision": 0, "Scale": 0, "Nullable": "UNKNOWN",
            "CatalogName": "hive", "SchemaName": "", "TableName": ""}


def can(server, columns, rows, region="us-east-1"):
    """Queue one canned result: moto hands it to the next query (in `region`) and writes its CSV to S3."""
    header = {"Data": [{"VarCharValue": name} for name, _ in columns]}
    data = [{"Data": [{} if v is None else {"VarCharValue": v} for v in row]} for row in rows]
    body = {"results": [{"rows": [header, *data], "column_info": [column(n, t) for n, t in columns]}],
            "region": region}
    request = urllib.request.Request(server + "/moto-api/static/athena/query-results", method="POST",
                                     data=json.dumps(body).encode(), headers={"Content-Type": "application/json"})
    assert urllib.request.urlopen(request).status == 201


def transitions(server, progression, times=None):
    body = {"model_name": "athena::execution", "transition": {"progression": progression}}
    if times is not None:
        body["transition"]["times"] = times
    request = urllib.request.Request(server + "/moto-api/state-manager/set-transition", method="POST",
                                     data=json.dumps(body).encode(), headers={"Content-Type": "application/json"})
    urllib.request.urlopen(request)


def received(query_id):
    return boto3.client("athena").get_query_execution(QueryExecutionId=query_id)["QueryExecution"]


def athena(**options):
    return analytics.connect("athena", buckets=options.pop("buckets", ["acme-prod-data"]),
                             output_location=RESULTS, clock=lambda: dt.datetime(2025, 11, 21), **options)


# --- offline ------------------------------------------------------------------------------------------

@pytest.mark.parametrize("bucket,namespace", [("my-bucket", "b_my-bucket"), ("my.dotted.bucket", "b_my_dotted_bucket")])
def test_namespace_rule(bucket, namespace):
    assert namespace_for(bucket) == namespace


@pytest.mark.parametrize("bucket", ["Legacy_Bucket", "x" * 64])
def test_legacy_names_need_an_explicit_namespace(bucket):
    with pytest.raises(BadInput, match="--namespace"):
        namespace_for(bucket)
    assert AthenaEngine(namespace="b_legacy_bucket1a2b3c").namespaces == ["b_legacy_bucket1a2b3c"]


@pytest.mark.parametrize("bucket", ["", "x' OR '1'='1", "a", "no way"])
def test_a_malformed_bucket_is_refused(bucket):
    with pytest.raises(BadInput, match="^--bucket "):
        AthenaEngine(buckets=[bucket])


def test_engine_needs_a_bucket():
    with pytest.raises(BadInput, match="needs --bucket"):
        AthenaEngine()


@pytest.mark.parametrize("scanned,cost", [
    (0, 10 * 2**20 / 2**40 * 5), (None, 10 * 2**20 / 2**40 * 5), (10 * 2**20 + 1, 11 * 2**20 / 2**40 * 5),
    (2**40, 5.0), (3 * 2**40 + 5, (3 * 2**40 + 2**20) / 2**40 * 5),
])
def test_cost_is_5_dollars_per_tb_rounded_up_to_mb_with_a_10_mb_minimum(scanned, cost):
    assert estimated_cost(scanned) == pytest.approx(cost, rel=1e-6)


def test_single_bucket_renders_the_catalog_text_with_a_context():
    with athena() as session:
        rendered = session.render("recent_deletes", since="2025-11-20", until="2025-11-21")
        query = session.query("recent_deletes")
    assert rendered.sql == query.sql.replace(":since", "?").replace(":until", "?").replace(":bucket", "?")
    assert rendered.context == {"Catalog": "s3tablescatalog/aws-s3", "Database": "b_acme-prod-data"}
    assert rendered.parameters == ["TIMESTAMP '2025-11-20 00:00:00.000'", "TIMESTAMP '2025-11-21 00:00:00.000'",
                                   "null", "null"]


def test_show_render_for_athena_prints_statement_context_and_parameters():
    proc = cli("show", "recent_deletes", "--render", "--engine", "athena", "--bucket", "my.bucket",
               "-p", "since=2025-11-20", "-p", "until=2025-11-21")
    assert proc.returncode == 0, proc.stderr
    assert "record_timestamp >= ?" in proc.stdout
    assert '-- context (athena): {"Catalog": "s3tablescatalog/aws-s3", "Database": "b_my_bucket"}' in proc.stdout
    assert "-- ExecutionParameters (athena): [\"TIMESTAMP '2025-11-20 00:00:00.000'\"" in proc.stdout


@pytest.mark.parametrize("statement", ["SELECT 1", "VALUES 1", "VALUES (1, 'a'), (2, 'b')", "SHOW TABLES",
                                       "EXPLAIN SELECT 1", "DESCRIBE journal", "WITH a AS (SELECT 1) SELECT * FROM a"])
def test_read_only_statements_pass_athenas_check(statement):
    assert AthenaEngine(buckets=["bkt"]).check_read_only(statement) == statement


# --- against the emulator ----------------------------------------------------------------------------

def test_results_come_typed_from_the_result_file(aws):
    can(aws, [("key", "varchar"), ("size", "bigint"), ("record_timestamp", "timestamp"), ("object_tags", "map"),
              ("is_delete_marker", "boolean"), ("ratio", "double")],
        [["docs/a,b\nc.txt", "5", "2025-11-20 10:00:00.000", "{env=prod, team=data}", "true", "0.5"],
         [None, None, None, "{}", None, None]])
    with athena() as session:
        result = session.sql("SELECT key, size, record_timestamp, object_tags, is_delete_marker, 0.5 AS ratio "
                             "FROM journal")
    assert result.rows() == [
        {"key": "docs/a,b\nc.txt", "size": 5, "record_timestamp": dt.datetime(2025, 11, 20, 10),
         "object_tags": {"env": "prod", "team": "data"}, "is_delete_marker": True, "ratio": 0.5},
        {"key": None, "size": None, "record_timestamp": None, "object_tags": {}, "is_delete_marker": None,
         "ratio": None},
    ]
    assert str(result.arrow().schema.field("record_timestamp").type) == "timestamp[us]"


def test_statement_context_and_parameters_reach_athena_exactly(aws):
    can(aws, [("n", "bigint")], [["0"]])
    with athena() as session:
        result = session.run("recent_user_deletes", since="2025-11-20T00:00:00", until="2025-11-21T00:00:00",
                             bucket="acme-prod-data")
    sent = received(result.stats["query_execution_id"])
    assert sent["Query"] == session.query("recent_user_deletes").sql.replace(":since", "?").replace(
        ":until", "?").replace(":bucket", "?")
    assert sent["QueryExecutionContext"] == {"Catalog": "s3tablescatalog/aws-s3", "Database": "b_acme-prod-data"}
    assert sent["ExecutionParameters"] == ["TIMESTAMP '2025-11-20 00:00:00.000'", "TIMESTAMP '2025-11-21 00:00:00.000'",
                                           "'acme-prod-data'", "'acme-prod-data'"]


HOSTILE = ["x' OR '1'='1", "'; DROP TABLE journal; --", "a\\'b", "/* c */", "日本語'", "\n' OR 1=1 --"]


@pytest.mark.parametrize("value", HOSTILE)
def test_hostile_values_travel_as_quoted_literals(aws, tmp_path, value):
    (tmp_path / "by_key.sql").write_text("-- By key.\n--\n-- x\n-- @param key key: the key\n"
                                         "SELECT key FROM journal WHERE key = :key\n")
    can(aws, [("key", "varchar")], [])
    with analytics.connect("athena", buckets=["bkt-1"], output_location=RESULTS, catalog=str(tmp_path)) as session:
        result = session.run("by_key", key=value)
    sent = received(result.stats["query_execution_id"])
    assert sent["Query"] == "SELECT key FROM journal WHERE key = ?"  # the text never changes
    assert sent["ExecutionParameters"] == ["'" + value.replace("'", "''") + "'"]  # one quoted literal


def test_too_long_a_value_is_refused_before_sending(tmp_path):
    (tmp_path / "by_key.sql").write_text("-- By key.\n--\n-- x\n-- @param key key: the key\n"
                                         "SELECT key FROM journal WHERE key = :key\n")
    with analytics.connect("athena", buckets=["bkt-1"], catalog=str(tmp_path)) as session:
        assert len(session.render("by_key", key="k" * 1022).parameters[0]) == 1024
        with pytest.raises(BadInput, match="at most 1024"):
            session.render("by_key", key="k" * 1023)


def test_several_buckets_are_one_union_not_results_pasted_together(aws):
    can(aws, [("encryption_status", "varchar"), ("number_of_keys", "bigint"), ("total_capacity_in_bytes", "bigint")],
        [["SSE-S3", "3", "300"]])
    with athena(buckets=["acme-prod-data", "acme.media.assets"]) as session:
        result = session.run("encryption_status_summary")
    sent = received(result.stats["query_execution_id"])
    assert sent["Query"].count("UNION ALL") == 1
    assert ('FROM (SELECT * FROM "s3tablescatalog/aws-s3"."b_acme-prod-data"."inventory" UNION ALL '
            'SELECT * FROM "s3tablescatalog/aws-s3"."b_acme_media_assets"."inventory") AS inventory') in sent["Query"]
    assert sent["QueryExecutionContext"] == {"Catalog": "s3tablescatalog/aws-s3"}
    assert result.rows() == [{"encryption_status": "SSE-S3", "number_of_keys": 3, "total_capacity_in_bytes": 300}]


def test_several_buckets_rewrite_the_annotation_table_but_not_the_journals_annotation_column():
    sql = ("SELECT j.key, j.annotation.name, annotation.size, a.text_value FROM journal AS j "
           "JOIN annotation AS a ON a.object_key = j.key AND a.object_join_key = j.object_join_key "
           "WHERE annotation.name IS NOT NULL")
    engine = AthenaEngine(buckets=["acme-prod-data", "acme.media.assets"])
    rendered = engine.render(sql)
    union = ('(SELECT * FROM "s3tablescatalog/aws-s3"."b_acme-prod-data"."annotation" UNION ALL '
             'SELECT * FROM "s3tablescatalog/aws-s3"."b_acme_media_assets"."annotation") AS a')
    assert union in rendered.sql and rendered.sql.count("UNION ALL") == 2
    # The struct column keeps its name: `annotation.name` is a field of the journal's column.
    assert "j.annotation.name" in rendered.sql and "WHERE NOT annotation.name IS NULL" in rendered.sql
    single = AthenaEngine(buckets=["acme-prod-data"]).render(sql)
    assert single.sql == sql and single.context == {"Catalog": "s3tablescatalog/aws-s3", "Database": "b_acme-prod-data"}


@pytest.mark.parametrize("statement", ["DROP TABLE annotation", "INSERT INTO annotation SELECT * FROM annotation",
                                       "DELETE FROM annotation", "UPDATE annotation SET text_value = 'x'",
                                       "SELECT * FROM annotation; DROP TABLE annotation"])
def test_ad_hoc_sql_on_the_annotation_table_is_read_only_for_athena(statement):
    engine = AthenaEngine(buckets=["acme-prod-data"])
    from analytics.errors import SQLRefused
    with pytest.raises(SQLRefused, match="^refused"):
        engine.check_read_only(statement)
    assert engine.check_read_only("SELECT annotation.name, text_value FROM journal, annotation") \
        == "SELECT annotation.name, text_value FROM journal, annotation"


def test_polling_goes_through_queued_and_running_with_progress(aws):
    transitions(aws, "manual", times=3)
    can(aws, [("n", "bigint")], [["1"]])
    seen = []
    try:
        with athena(poll_interval=0.01, progress=lambda state, elapsed, scanned: seen.append(state)) as session:
            assert session.sql("SELECT 1 AS n").rows() == [{"n": 1}]
    finally:
        transitions(aws, "immediate")
    assert seen[0] == "QUEUED" and "RUNNING" in seen and seen[-1] == "SUCCEEDED"


def test_timeout_stops_the_query_in_athena(aws):
    transitions(aws, "manual", times=10_000)
    try:
        with athena(poll_interval=0.01, timeout=0.3) as session:
            with pytest.raises(QueryFailed) as err:
                session.sql("SELECT 1")
    finally:
        transitions(aws, "immediate")
    assert err.value.exit_code == 3 and "timed out" in str(err.value)
    assert received(err.value.query_id)["Status"]["State"] == "CANCELLED"


def test_ctrl_c_stops_the_query_in_athena(aws):
    transitions(aws, "manual", times=10_000)
    started = []

    def interrupt(state, elapsed, scanned):
        started.append(state)
        if len(started) == 2:
            raise KeyboardInterrupt

    try:
        with athena(poll_interval=0.01, progress=interrupt) as session:
            with pytest.raises(Interrupted) as err:
                session.sql("SELECT 1")
    finally:
        transitions(aws, "immediate")
    query_id = str(err.value).split("query ")[1].split()[0]
    assert received(query_id)["Status"]["State"] == "CANCELLED" and err.value.exit_code == 130


def test_cli_reports_cost_on_stderr(aws, tmp_path):
    can(aws, [("source_ip_address", "varchar"), ("record_count", "bigint")], [["192.0.2.1", "4"]])
    env = {k: v for k, v in __import__("os").environ.items() if k.startswith("AWS_")}
    proc = cli("query", "source_ip_activity", "--engine", "athena", "--bucket", "acme-prod-data",
               "--output-location", RESULTS, "-p", "since=1d", "--format", "json", env=env)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout) == [{"source_ip_address": "192.0.2.1", "record_count": 4}]
    assert "athena scanned 0 B" in proc.stderr and "estimated $0.000048" in proc.stderr


@pytest.mark.parametrize("statement", ["SHOW TABLES", "EXPLAIN SELECT 1", "SHOW COLUMNS FROM journal"])
def test_valid_show_and_explain_print_only_the_cost_line(aws, statement):
    can(aws, [("x", "varchar")], [["a"]])
    proc = cli("sql", statement, "--engine", "athena", "--bucket", "acme-prod-data", "--output-location", RESULTS,
               "--format", "json")
    assert proc.returncode == 0, proc.stderr
    (line,) = proc.stderr.splitlines()
    assert line.startswith("s3meta: 1 row; athena scanned")


def test_settings_from_a_config_profile(aws, tmp_path):
    config = tmp_path / "config.toml"
    config.write_text('[profiles.prod]\nengine = "athena"\nbuckets = ["acme-prod-data"]\n'
                      f'output_location = "{RESULTS}"\nregion = "us-east-1"\n')
    can(aws, [("n", "bigint")], [["7"]])
    env = {k: v for k, v in __import__("os").environ.items() if k.startswith("AWS_")}
    proc = cli("--config", str(config), "--profile", "prod", "sql", "SELECT 7 AS n", "--format", "json", env=env)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout) == [{"n": 7}]
    proc = cli("--config", str(config), "--profile", "nope", "sql", "SELECT 1", env=env)
    assert proc.returncode == 2 and "no profile 'nope' (profiles: prod)" in proc.stderr


@pytest.mark.parametrize("variables,region", [
    ({"AWS_REGION": "eu-west-1"}, "eu-west-1"),                                   # the README's promise
    ({"AWS_REGION": "eu-west-1", "AWS_DEFAULT_REGION": "us-west-2"}, "eu-west-1"),  # AWS_REGION first
    ({"S3META_REGION": "ap-southeast-2", "AWS_REGION": "eu-west-1"}, "ap-southeast-2"),
])
def test_region_from_the_environment(aws, monkeypatch, tmp_path, variables, region):
    """boto3 reads only AWS_DEFAULT_REGION; s3meta honours AWS_REGION as the AWS CLI and SDKs do."""
    monkeypatch.delenv("AWS_DEFAULT_REGION")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-aws-config"))  # no region from a profile
    can(aws, [("n", "bigint")], [["7"]], region=region)
    proc = cli("sql", "SELECT 7 AS n", "--engine", "athena", "--bucket", "acme-prod-data",
               "--output-location", RESULTS, "--format", "json", env=variables)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout) == [{"n": 7}]
    query_id = proc.stderr.split("(query ")[1].split(")")[0]
    ran = boto3.client("athena", region_name=region).get_query_execution(QueryExecutionId=query_id)
    assert ran["QueryExecution"]["Query"] == "SELECT 7 AS n"


def test_no_region_at_all_is_one_line(aws, monkeypatch, tmp_path):
    monkeypatch.delenv("AWS_DEFAULT_REGION")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-aws-config"))
    proc = cli("sql", "SELECT 1", "--engine", "athena", "--bucket", "acme-prod-data")
    assert proc.returncode == 2
    assert proc.stderr.startswith("s3meta: error: no AWS region: pass --region, set AWS_REGION")


# --- what moto cannot do: FAILED with Athena's reason, and cost figures, through botocore's Stubber ----

def stubbed(state, error=None, scanned=None, csv=b'"n"\n"1"\n'):
    client = boto3.client("athena", region_name="us-east-1")
    s3 = boto3.client("s3", region_name="us-east-1")
    athena_stub, s3_stub = Stubber(client), Stubber(s3)
    athena_stub.add_response("start_query_execution", {"QueryExecutionId": "q-1"})
    status = {"State": state}
    if error:
        status |= {"StateChangeReason": error["ErrorMessage"], "AthenaError": error}
    execution = {"QueryExecutionId": "q-1", "Status": status,
                 "ResultConfiguration": {"OutputLocation": "s3://athena-results/out/q-1.csv"},
                 "Statistics": {"DataScannedInBytes": scanned or 0, "EngineExecutionTimeInMillis": 2500,
                                "TotalExecutionTimeInMillis": 2700, "QueryQueueTimeInMillis": 100}}
    athena_stub.add_response("get_query_execution", {"QueryExecution": execution})
    if state == "SUCCEEDED":
        athena_stub.add_response("get_query_results", {"ResultSet": {
            "Rows": [], "ResultSetMetadata": {"ColumnInfo": [{"Name": "n", "Type": "bigint"}]}}})
        s3_stub.add_response("get_object", {"Body": StreamingBody(io.BytesIO(csv), len(csv))})
    athena_stub.activate()
    s3_stub.activate()
    engine = AthenaEngine(buckets=["acme-prod-data"], client=client, s3_client=s3, poll_interval=0)
    return analytics.Session(engine)


def test_failed_user_error_exits_2_with_athenas_reason():
    error = {"ErrorCategory": 2, "ErrorType": 1006, "Retryable": False,
             "ErrorMessage": "SYNTAX_ERROR: line 1:8: Column 'nope' cannot be resolved"}
    with pytest.raises(QueryFailed) as err:
        stubbed("FAILED", error).sql("SELECT nope FROM journal")
    assert err.value.exit_code == 2
    assert str(err.value) == ("Athena query q-1 FAILED: SYNTAX_ERROR: line 1:8: Column 'nope' cannot be resolved "
                              "(error category USER, type 1006)")


def test_failed_system_error_exits_3():
    error = {"ErrorCategory": 1, "ErrorType": 401, "Retryable": True, "ErrorMessage": "failed to write results"}
    with pytest.raises(QueryFailed) as err:
        stubbed("FAILED", error).sql("SELECT 1")
    assert err.value.exit_code == 3 and "error category SYSTEM, type 401" in str(err.value)


def test_cancelled_exits_3():
    error = {"ErrorCategory": 3, "ErrorType": 0, "ErrorMessage": "Query cancelled: bytes scanned limit exceeded"}
    with pytest.raises(QueryFailed, match="CANCELLED: Query cancelled: bytes scanned limit exceeded") as err:
        stubbed("CANCELLED", error).sql("SELECT 1")
    assert err.value.exit_code == 3


def test_cost_figures_in_the_result_metadata():
    result = stubbed("SUCCEEDED", scanned=3 * 2**30).sql("SELECT 1 AS n")
    assert result.rows() == [{"n": 1}]
    assert result.stats["data_scanned_bytes"] == 3 * 2**30 and result.stats["engine_ms"] == 2500
    assert result.stats["cost_usd"] == pytest.approx(3 / 1024 * 5)


# --- the same text on DuckDB: every catalog query, rendered for Athena and transpiled back ------------
# Queries tagged inventory-report read table inventory_report, which the fixtures lack; they are
# run in test_inventory_report.py instead.
ON_FIXTURES = sorted(q.name for q in analytics.catalog.shipped() if "inventory-report" not in q.tags)


@pytest.mark.parametrize("name", ON_FIXTURES)
def test_rendered_athena_text_transpiled_back_gives_the_same_rows(name, small_data):
    import sqlglot

    from test_catalog_queries import REQUIRED_VALUES as REQUIRED  # valid values for required parameters

    with analytics.connect(data=small_data, clock=lambda: dt.datetime(2025, 11, 30)) as local, \
            athena(buckets=["acme-prod-data"]) as remote:
        query = local.query(name)
        values = {p.name: REQUIRED[p.name] for p in query.params if p.required}
        values |= {p.name: v for p, v in ((p, {"since": "14d"}.get(p.name)) for p in query.params) if v}
        original = local.run(name, values)
        rendered = remote.render(name, values)
        tree = sqlglot.parse_one(rendered.sql, read="athena")
        duck_sql = tree.sql("duckdb")
        bound = local.bind(name, values)[1]
        positional = [bound[n] for n in placeholders(query.sql)]
        back = local.engine.con.execute(duck_sql, positional).to_arrow_table()
    assert back.to_pylist() == original.arrow().to_pylist()


@pytest.mark.parametrize("name", ON_FIXTURES)
def test_multi_bucket_union_gives_the_same_rows_as_one_table_of_all_buckets(name, small_data, small_manifest):
    """Mimic S3 Tables in DuckDB: catalog "s3tablescatalog/aws-s3", one b_<bucket> schema per bucket."""
    import duckdb
    import sqlglot

    from test_catalog_queries import REQUIRED_VALUES as REQUIRED

    buckets = [b["name"] for b in small_manifest["buckets"]]
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    con.execute("ATTACH ':memory:' AS \"s3tablescatalog/aws-s3\"")
    for table in ("journal", "inventory", "annotation"):
        con.read_parquet(sorted(str(p) for p in (small_data / table).glob("*.parquet"))).create_view(table)
        for bucket in buckets:
            schema = f'"s3tablescatalog/aws-s3"."{namespace_for(bucket)}"'
            con.execute(f"CREATE SCHEMA IF NOT EXISTS {schema}")
            con.execute(f"CREATE TABLE {schema}.{table} AS SELECT * FROM memory.main.{table} WHERE bucket = ?",
                        [bucket])
    with analytics.connect(data=small_data, clock=lambda: dt.datetime(2025, 11, 30)) as local, \
            athena(buckets=buckets) as remote:
        query = local.query(name)
        values = {p.name: REQUIRED[p.name] for p in query.params if p.required}
        values |= {"since": "14d"} if any(p.name == "since" for p in query.params) else {}
        original = local.run(name, values)
        rendered = remote.render(name, values)
        bound = local.bind(name, values)[1]
    assert "UNION ALL" in rendered.sql and rendered.context == {"Catalog": "s3tablescatalog/aws-s3"}
    duck_sql = sqlglot.parse_one(rendered.sql, read="athena").sql("duckdb")
    back = con.execute(duck_sql, [bound[n] for n in placeholders(query.sql)]).to_arrow_table()
    assert back.to_pylist() == original.arrow().to_pylist()


def test_session_sums_scan_and_cost():
    session = stubbed("SUCCEEDED", scanned=2**30)
    session.sql("SELECT 1 AS n")
    assert session.totals() == {"queries": 1, "data_scanned_bytes": 2**30, "cost_usd": pytest.approx(5 / 1024),
                                "elapsed_seconds": pytest.approx(session.history[0]["elapsed_seconds"])}


def test_throttling_is_retried_with_backoff_over_real_http(aws, monkeypatch):
    """A local endpoint answers the first calls with ThrottlingException, then forwards to moto."""
    import http.server
    import threading

    throttled = {"left": 2, "seen": 0}

    class Throttler(http.server.BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def do_POST(self):
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            if self.headers.get("X-Amz-Target", "").endswith("StartQueryExecution") and throttled["left"]:
                throttled["left"] -= 1
                throttled["seen"] += 1
                payload = b'{"__type":"ThrottlingException","message":"Rate exceeded"}'
                self.send_response(400)
                self.send_header("Content-Type", "application/x-amz-json-1.1")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)
                return
            headers = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "content-length")}
            forwarded = urllib.request.Request(aws + self.path, data=body, headers=headers, method="POST")
            with urllib.request.urlopen(forwarded) as response:
                data = response.read()
                self.send_response(response.status)
                for k, v in response.headers.items():
                    if k.lower() not in ("content-length", "transfer-encoding", "connection"):
                        self.send_header(k, v)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Throttler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    monkeypatch.setenv("AWS_ENDPOINT_URL_ATHENA", f"http://127.0.0.1:{server.server_address[1]}")
    can(aws, [("n", "bigint")], [["1"]])
    try:
        with athena() as session:
            assert session.sql("SELECT 1 AS n").rows() == [{"n": 1}]
    finally:
        server.shutdown()
    assert throttled == {"left": 0, "seen": 2}


# --- results stream from the result file ---------------------------------------------------------------

class ReadRecorder:
    """An S3 client whose GetObject bodies record each read: how results are downloaded."""

    def __init__(self, client):
        self.client, self.reads = client, []

    def __getattr__(self, name):
        return getattr(self.client, name)

    def get_object(self, **request):
        response = self.client.get_object(**request)
        body, reads = response["Body"], self.reads

        class Body(io.RawIOBase):
            def readable(self):
                return True

            def read(self, size=-1):
                data = body.read(None if size is None or size < 0 else size)
                reads.append(len(data))
                return data

            def close(self):
                body.close()
                super().close()

        return {**response, "Body": Body()}


def test_results_are_read_from_s3_block_by_block(aws, monkeypatch):
    from analytics.engines import athena as athena_module

    monkeypatch.setattr(athena_module, "CSV_BLOCK_BYTES", 4 << 10)
    # moto writes each value between quotes as given: the doubled quotes are Athena's own escaping.
    rows = [[f'docs/{i:06d},""quoted""\nline.txt', str(i), "2025-11-20 10:00:00.000", "{env=prod, n=%d}" % i]
            for i in range(20_000)]
    can(aws, [("key", "varchar"), ("size", "bigint"), ("at", "timestamp"), ("tags", "map")], rows)
    s3 = ReadRecorder(boto3.client("s3"))
    with athena(s3_client=s3) as session:
        result = session.sql("SELECT key, size, at, tags FROM journal", stream=True)
        batches = result.batches()
        first = batches.read_next_batch()
        downloaded_for_the_first_batch = sum(s3.reads)
        rest = list(batches)
    total = sum(s3.reads)
    assert len(rest) > 10 and first.num_rows + sum(b.num_rows for b in rest) == 20_000
    # The first batch came long before the file did (pyarrow reads some 32 blocks ahead), and the
    # body was never read whole.
    assert downloaded_for_the_first_batch <= 40 * (4 << 10) < total / 10
    assert max(s3.reads) <= 4 << 10
    assert first.to_pylist()[1] == {"key": 'docs/000001,"quoted"\nline.txt', "size": 1,
                                    "at": dt.datetime(2025, 11, 20, 10), "tags": [("env", "prod"), ("n", "1")]}
    assert result.stats["rows"] == 20_000 and "query_execution_id" in result.stats


def test_a_malformed_result_file_is_one_clear_error(aws, monkeypatch):
    from analytics.engines import athena as athena_module

    original = athena_module.csv_batches

    def broken(source, columns):
        yield from original(io.BytesIO(b'"key"\n"a"\n"b","c"\n'), columns)

    monkeypatch.setattr(athena_module, "csv_batches", broken)
    can(aws, [("key", "varchar")], [["a"]])
    with athena() as session:
        with pytest.raises(analytics.EngineError, match="cannot read Athena's result file s3://athena-results/"):
            session.sql("SELECT key FROM journal")


def _athena_map(text):
    """The per-value parser the vectorized one replaced (the oracle)."""
    if text is None:
        return None
    inner = text.strip()
    inner = inner[1:-1] if inner.startswith("{") and inner.endswith("}") else inner
    if not inner:
        return []
    pairs = []
    for piece in inner.split(", "):
        key, _, value = piece.partition("=")
        pairs.append((key, None if value == "null" else value))
    return pairs


def test_maps_parse_as_the_per_value_parser_did():
    import pyarrow as pa

    from analytics.engines.athena import _maps

    texts = ["{env=prod, team=data}", "{}", None, " {a=null} ", "{a=, =b}", "{k=v=w, x}", "{a=1, b=2, c=3}",
             "noBraces=1", "{x, y}", "{", "}", "{=}", "{a=b\nc, d=e}", "{日本=語, <script>=x}", "{a=null, b=nullx}",
             "", "{a=1,b=2}", "{ a = 1 }", "{a=1, , b=2}", "{tab\tkey=\x00}"]
    assert _maps(pa.array(texts, pa.string())).to_pylist() == [_athena_map(t) for t in texts]
    chunked = pa.chunked_array([texts[:5], texts[5:]], pa.string())
    assert _maps(chunked).to_pylist() == [_athena_map(t) for t in texts]
