"""Write the shipped notebooks from the cell sources below: the notebooks' reviewable source.

    python notebooks/build.py          # (re)write notebooks/*.ipynb, without outputs
    python notebooks/build.py --check  # exit 1 if a committed notebook differs from its source here

Edit the cells here, not in Jupyter, then rebuild; the committed .ipynb files carry no outputs and
no execution counts, and their cell ids are stable, so their diffs stay readable. Each notebook
has a cell tagged `parameters` (papermill): `papermill in.ipynb out.ipynb -p data /path`.
"""

from __future__ import annotations

import sys
from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

HERE = Path(__file__).resolve().parent

# Shared by all three: the data folder defaults to $S3META_DATA, else the repo's demo/ (`make demo`).
PARAMS_DATA = 'data = os.environ.get("S3META_DATA", "demo")  # a folder of Parquet (make demo writes demo/)'

EXPLORE = [
    ("md", """\
# Explore the journal

The six workshop queries on the demo data (`make demo` writes it to `demo/`), each with a chart where
a picture says more than rows. Every query is also a CLI command (`s3meta query NAME --data demo`)
and a magic (`%s3meta query NAME`); here it is the Python API: `session.run(name, since=..., ...)`
returns a `Result` that shows as a table, with `.df()` for pandas and `.arrow()` for Arrow.

The window is the last `span` of the data: for generated data it ends where the generator's
journal ends (manifest.json), so the notebook shows the same picture whenever it is run."""),
    ("params", f"""\
import os

{PARAMS_DATA}
span = "7d"  # how far back from the end of the data"""),
    ("code", """\
import matplotlib.pyplot as plt

import analytics
from analytics.notebook import data_end, data_folder, window
from analytics.params import parse_duration

session = analytics.connect(data=data_folder(data))
w = window(data, span)  # {"since": "7d", "until": <end of the data>}: since counts back from until
end = data_end(data)
start = end - parse_duration(span)
print(f"{session!r}; window {start} to {end}")"""),
    ("md", """\
## Activity over time, by record type

Not a catalog query: one ad-hoc read-only statement (`session.sql`, or a `%%s3meta` cell). Creates,
metadata updates and deletes per hour; a burst stands out at once. `:since` and `:until` are bound
by the driver (never pasted into the SQL), and typed as in the catalog: timestamps."""),
    ("code", """\
activity = session.sql(\"\"\"
    SELECT date_trunc('hour', record_timestamp) AS hour, record_type, count(*) AS records
    FROM journal
    WHERE record_timestamp >= :since AND record_timestamp < :until
    GROUP BY ALL ORDER BY hour
\"\"\", since=start, until=end)
by_hour = activity.df().pivot(index="hour", columns="record_type", values="records").fillna(0)
fig, ax = plt.subplots(figsize=(10, 3.5))
by_hour.plot(ax=ax, linewidth=1)
ax.set(title="Journal records per hour", xlabel="", ylabel="records")
plt.show()"""),
    ("md", """\
## 1. recent_deletes

Every DELETE record in the window: delete markers (`is_delete_marker` true) and permanent deletes
(`is_delete_marker` NULL; AWS leaves requester and IP NULL on those)."""),
    ("code", """\
deletes = session.run("recent_deletes", **w)
deletes"""),
    ("code", """\
frame = deletes.df()
frame["kind"] = frame["is_delete_marker"].map({True: "delete marker"}).fillna("permanent delete")
per_hour = frame.groupby([frame["record_timestamp"].dt.floor("h"), "kind"]).size().unstack(fill_value=0)
fig, ax = plt.subplots(figsize=(10, 3))
per_hour.plot(ax=ax, linewidth=1)
ax.set(title="Deletes per hour", xlabel="", ylabel="deletes")
plt.show()"""),
    ("md", """\
## 2. recent_user_deletes

The same without S3 Lifecycle's expirations: deletes that people and programs made. Who made them?"""),
    ("code", """\
user_deletes = session.run("recent_user_deletes", **w)
# A permanent delete carries no requester (AWS's rule): those count under "(not recorded)".
user_deletes.df()["requester"].fillna("(not recorded)").value_counts().rename("deletes").to_frame()"""),
    ("md", """\
## 3. source_ip_activity

Records per source IP address; S3 itself and other AWS services act with a NULL address."""),
    ("code", """\
ips = session.run("source_ip_activity", **w)
top = ips.df().head(15).fillna({"source_ip_address": "(AWS service)"})
fig, ax = plt.subplots(figsize=(8, 4))
ax.barh(top["source_ip_address"][::-1], top["record_count"][::-1])
ax.set(title="Requests by source IP (top 15)", xlabel="journal records")
plt.show()"""),
    ("md", """\
## 4. recent_metadata_updates

Tag and metadata changes, newest first: a table to read (GuardDuty scan results land here as tags)."""),
    ("code", """\
session.run("recent_metadata_updates", **w)"""),
    ("md", """\
## 5. encryption_status_summary

From the live inventory, so no window: what is stored, by encryption status (NULL: unencrypted)."""),
    ("code", """\
encryption = session.run("encryption_status_summary").df().fillna({"encryption_status": "none"})
fig, (left, right) = plt.subplots(1, 2, figsize=(10, 3))
left.bar(encryption["encryption_status"], encryption["number_of_keys"])
left.set(title="Objects by encryption status", ylabel="objects")
right.bar(encryption["encryption_status"], encryption["total_capacity_in_bytes"] / 2**30)
right.set(title="Bytes by encryption status", ylabel="GiB")
plt.show()
encryption"""),
    ("md", """\
And the storage classes, also from the inventory (`storage_class_summary`)."""),
    ("code", """\
classes = session.run("storage_class_summary").df()
fig, ax = plt.subplots(figsize=(8, 3))
ax.bar(classes["storage_class"], classes["total_bytes"] / 2**30)
ax.set(title="Stored bytes by storage class", ylabel="GiB")
plt.show()
classes"""),
    ("md", """\
## 6. prefix_delete_volume

Deletes by top-level prefix: where the deleting happens."""),
    ("code", """\
prefixes = session.run("prefix_delete_volume", **w).df()
fig, ax = plt.subplots(figsize=(8, 3.5))
ax.barh(prefixes["top_level_prefix"][::-1], prefixes["delete_count"][::-1])
ax.set(title="Deletes by top-level prefix", xlabel="deletes")
plt.show()
prefixes"""),
    ("code", """\
session.close()"""),
]

INVESTIGATE = [
    ("md", """\
# Investigate an incident: from a finding to a restore plan

1. **The finding**: the scheduled report (`s3meta report`), replayed here day by day over the
   data, flags a mass delete by one actor.
2. **The actor**: everything that account and that IP address did around the burst.
3. **The keys**: the version history of a few keys it touched.
4. **The restore plan**: the versions its markers hide, as JSON to review and an AWS CLI script that
   removes the markers. Nothing is run against S3: a person reviews the plan, then runs the script."""),
    ("params", f"""\
import os

{PARAMS_DATA}
span = "14d"  # how many days of scheduled reports to replay, back from the end of the data
plan_prefix = "build/restore/incident"  # the plan is written to PREFIX.json and PREFIX.sh"""),
    ("code", """\
from datetime import timedelta

import matplotlib.pyplot as plt
import pandas as pd

import analytics
from analytics import report, restore
from analytics.detectors import severity_rank
from analytics.notebook import data_end, data_folder, manifest, window
from analytics.params import parse_duration
from analytics.report.state import State

session = analytics.connect(data=data_folder(data))
w = window(data, span)
w"""),
    ("md", """\
## 1. The finding

What cron would have produced: one report a day, each against its 14-day baseline, with a state
that remembers what was already reported. Only new findings are kept."""),
    ("code", """\
end, state, findings = data_end(data), State(), []
for day in range(parse_duration(span).days - 1, -1, -1):
    daily = report.run(session, since=end - timedelta(days=day + 1), until=end - timedelta(days=day), state=state)
    findings += [f for f in daily.findings if f.new]
    daily.commit()
pd.DataFrame([(f.severity, f.detector, f.bucket, f.title) for f in findings],
             columns=["severity", "detector", "bucket", "title"])"""),
    ("code", """\
mass = sorted((f for f in findings if f.detector == "mass_delete"), key=lambda f: -severity_rank(f.severity))
if mass:
    finding = mass[0]
    actor, ip = finding.evidence.get("requester"), finding.evidence.get("source_ip")
    first, last = finding.first_seen, finding.last_seen
    print(f"{finding.severity.upper()}: {finding.title}\\nrunbook: {finding.runbook}")
else:  # no mass delete in these days: take the fastest burst of delete markers instead
    bursts = [r for r in session.run("delete_markers_by_actor", **w).rows()
              if r["requester"] != "s3.amazonaws.com" and r["delete_markers"] >= 10]
    burst = max(bursts, key=lambda r: r["delete_markers"] / max(
        (r["last_marker_at"] - r["first_marker_at"]).total_seconds() / 60, 1.0))
    actor, ip = burst["requester"], burst["source_ip_address"]
    first, last = burst["first_marker_at"], burst["last_marker_at"]
print(f"actor {actor} from {ip}, {first} to {last}")"""),
    ("md", """\
## 2. The actor

Everything this account did from an hour before the burst to an hour after, and everything done
from its IP address (another account behind the same address would show up here)."""),
    ("code", """\
around = {"since": (first - timedelta(hours=1)).isoformat(), "until": (last + timedelta(hours=1)).isoformat()}
by_requester = session.run("requester_activity", requester=actor, **around)
by_ip = session.run("ip_activity", ip=ip, **around)
summary = by_requester.df().groupby(["record_type", "bucket"]).size().rename("records").to_frame()
summary"""),
    ("code", """\
frame = by_ip.df()
per_minute_ip = frame.groupby([frame["record_timestamp"].dt.floor("min"), "requester"]).size().unstack(fill_value=0)
fig, ax = plt.subplots(figsize=(10, 3))
per_minute_ip.plot(ax=ax, drawstyle="steps-post")
ax.set(title=f"Records per minute from {ip}, by requester", xlabel="", ylabel="records")
plt.show()
by_ip"""),
    ("md", """\
## 3. The keys

The full journal history of the first few keys it hid: who created each version, and the marker
on top."""),
    ("code", """\
touched = by_requester.df().query("is_delete_marker == True")[["bucket", "key"]].drop_duplicates()
for bucket, key in touched.head(3).itertuples(index=False):
    display(session.run("key_version_history", key=key, bucket=bucket))"""),
    ("md", """\
## 4. The restore plan

For each marker this actor placed in the burst: is it still the current version, and which version
does it hide? The plan lists them all; the script removes only the markers that are still current
and hide a version that still exists. `until` is exclusive, so it is one second past the last marker."""),
    ("code", """\
plan = restore.plan(session, since=first.isoformat(), until=(last + timedelta(seconds=1)).isoformat(),
                    requester=actor, ip=ip)
plan"""),
    ("code", """\
json_path, script_path = plan.write(plan_prefix)
print(f"wrote {json_path} and {script_path}\\n")
print("\\n".join(script_path.read_text(encoding="utf-8").splitlines()[:24]))"""),
    ("code", """\
plan.to_dict()["summary"]"""),
    ("md", """\
On generated data the generator knows what it planted: the plan should name exactly its hidden versions."""),
    ("code", """\
planted = manifest(data)
if planted:
    expected = {(h["key"], h["version_id"]) for h in planted["incidents"]["mass_delete"]["hidden_versions"]}
    found = {(r["key"], r["hidden_version_id"]) for r in plan.restores}
    print("the plan matches the planted incident" if found == expected
          else f"MISMATCH: {len(found ^ expected)} differ")"""),
    ("code", """\
session.close()"""),
]

ATHENA = [
    ("md", """\
# The same work against Athena

With `engine = "athena"` and a bucket, the queries run in Amazon Athena over the bucket's S3
Metadata tables (`s3tablescatalog/aws-s3`, namespace `b_<bucket>`); with no AWS settings they run on
the DuckDB demo data, so this notebook always runs. With papermill:

    papermill notebooks/03_production_athena.ipynb out.ipynb -p engine athena \\
        -p bucket my-bucket -p workgroup s3meta -p output_location s3://my-athena-results/s3meta/

Athena bills by bytes scanned ($5 per TB, at least 10 MB per query). Each result's `stats` say what a
query scanned and cost; the workgroup's per-query scan cutoff is the hard limit."""),
    ("params", f"""\
import os

engine = os.environ.get("S3META_ENGINE", "duckdb")  # "athena" to run in AWS
{PARAMS_DATA}
bucket = None  # athena: the general purpose bucket whose metadata tables to query
workgroup = None  # athena: its per-query scan cutoff caps the cost
output_location = None  # athena: s3:// folder for results (default: the workgroup's)
region = None
aws_profile = None
span = "7d\""""),
    ("code", """\
from datetime import timedelta

import pandas as pd

import analytics
from analytics import restore
from analytics.notebook import data_folder, window

if engine == "athena":
    session = analytics.connect("athena", buckets=[bucket] if bucket else None, workgroup=workgroup,
                                output_location=output_location, region=region, aws_profile=aws_profile)
    w = {"since": span, "until": "now"}
else:
    session = analytics.connect(data=data_folder(data))
    w = window(data, span)
runs = []  # every result's statistics, to add up the cost


def run(name, **params):
    result = session.run(name, **params)
    runs.append({"query": name, **result.stats})
    return result


session"""),
    ("md", """\
## What Athena runs

The catalog's SQL is plain Athena SQL; parameters travel as Athena `ExecutionParameters`, not
pasted into the text. This renders offline, whichever engine is in use:"""),
    ("code", """\
athena = analytics.connect("athena", buckets=[bucket or "acme-prod-data"])
rendered = athena.render("delete_markers_by_actor", **w)
print(rendered.sql)
print("context:", rendered.context)
print("ExecutionParameters:", rendered.parameters)"""),
    ("md", "## The incident queries"),
    ("code", """\
by_actor = run("delete_markers_by_actor", **w)
by_actor"""),
    ("code", """\
actors = [r for r in by_actor.rows() if r["requester"] != "s3.amazonaws.com"]
if actors:
    finding = max(actors, key=lambda r: r["delete_markers"] / max(
        (r["last_marker_at"] - r["first_marker_at"]).total_seconds() / 60, 1.0))
    actor, ip = finding["requester"], finding["source_ip_address"]
    first, last = finding["first_marker_at"], finding["last_marker_at"]
    around = {"since": (first - timedelta(hours=1)).isoformat(), "until": (last + timedelta(hours=1)).isoformat()}
    display(run("requester_activity", requester=actor, **around))
    display(run("actor_summary", **around))
else:
    finding = None
    print("no delete markers by a user in the window")"""),
    ("code", """\
if finding:
    plan = restore.plan(session, since=first.isoformat(), until=(last + timedelta(seconds=1)).isoformat(),
                        requester=actor, ip=ip)
    runs.append({"query": "restore plan", **plan.stats})
    display(plan)"""),
    ("md", """\
## What it cost

`result.stats` holds the engine, rows and elapsed seconds for every run; Athena adds
`data_scanned_bytes`, `cost_usd` (the estimate at $5 per TB) and the query execution ID. DuckDB costs
nothing, so the columns are empty there."""),
    ("code", """\
costs = pd.DataFrame(runs).reindex(columns=["query", "engine", "rows", "elapsed_seconds",
                                            "data_scanned_bytes", "cost_usd", "query_execution_id"])
total = costs["cost_usd"].fillna(0).sum()
print(f"{len(costs)} queries, {costs['data_scanned_bytes'].fillna(0).sum() / 2**20:.1f} MiB scanned, "
      f"estimated ${total:.4f}")
costs"""),
    ("code", """\
session.close()
athena.close()"""),
]

NOTEBOOKS = {
    "01_explore_journal.ipynb": EXPLORE,
    "02_investigate_incident.ipynb": INVESTIGATE,
    "03_production_athena.ipynb": ATHENA,
}


def build(cells: list[tuple[str, str]]) -> nbformat.NotebookNode:
    nb = new_notebook()
    nb.metadata = {
        "kernelspec": {"display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3"},
        "language_info": {"name": "python"},
    }
    for n, (kind, source) in enumerate(cells, 1):
        if kind == "md":
            cell = new_markdown_cell(source)
        else:
            cell = new_code_cell(source)
            if kind == "params":
                cell.metadata["tags"] = ["parameters"]
        cell.id = f"cell-{n:02d}"  # stable ids: rebuilding changes nothing that did not change
        nb.cells.append(cell)
    nbformat.validate(nb)
    return nb


def render(cells: list[tuple[str, str]]) -> str:
    return nbformat.writes(build(cells)) + "\n"


def main(argv: list[str]) -> int:
    check = "--check" in argv
    stale = []
    for name, cells in NOTEBOOKS.items():
        path = HERE / name
        text = render(cells)
        if check:
            if not path.is_file() or path.read_text(encoding="utf-8") != text:
                stale.append(name)
        else:
            path.write_text(text, encoding="utf-8")
    if stale:
        print(f"out of date: {', '.join(stale)}; run python notebooks/build.py", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
