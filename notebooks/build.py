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
journal ends (manifest.json), so the notebook shows the same picture whenever it is run. Times are
UTC, as S3 records them."""),
    ("params", f"""\
import os

{PARAMS_DATA}
span = "7d"  # how far back from the end of the data"""),
    ("code", """\
from datetime import datetime, timedelta

import matplotlib.dates as mdates
import matplotlib.pyplot as plt

import analytics
from analytics.notebook import data_end, data_folder, manifest, window
from analytics.params import parse_duration

session = analytics.connect(data=data_folder(data))
w = window(data, span)  # {"since": "7d", "until": <end of the data>}: since counts back from until
end = data_end(data)
start = end - parse_duration(span)
planted = (manifest(data) or {}).get("incidents", {}).get("mass_delete")


def time_axis(ax):
    \"\"\"Label a time axis as UTC, with dates and hours that do not collide.\"\"\"
    ax.xaxis.set_major_locator(mdates.AutoDateLocator(maxticks=8))
    ax.xaxis.set_major_formatter(mdates.DateFormatter("%b %d\\n%H:%M"))
    ax.set_xlabel("time (UTC)")


def mark_planted(ax):
    \"\"\"Shade the mass delete the generator planted (generated data only: real data has no manifest).\"\"\"
    if not planted:
        return
    since, until = datetime.fromisoformat(planted["since"]), datetime.fromisoformat(planted["until"])
    # A burst of minutes is a hairline on a week: shade at least an hour so it shows.
    ax.axvspan(since, max(until, since + timedelta(hours=1)), color="tab:red", alpha=0.2, zorder=0)
    ax.annotate(f"planted mass delete: {planted['count']} markers by {planted['actor']}",
                xy=(since, 1), xycoords=("data", "axes fraction"), xytext=(4, -12), textcoords="offset points",
                fontsize=8, color="tab:red")


print(f"{session!r}; window {start} to {end} UTC")"""),
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
for record_type in by_hour.columns:
    ax.plot(by_hour.index, by_hour[record_type], linewidth=1, label=record_type)
mark_planted(ax)
time_axis(ax)
ax.set(title="Journal records per hour", ylabel="records per hour")
ax.legend(fontsize=8)
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
for kind in per_hour.columns:
    ax.plot(per_hour.index, per_hour[kind], linewidth=1, label=kind)
mark_planted(ax)
time_axis(ax)
ax.set(title="Deletes per hour", ylabel="deletes per hour")
ax.legend(fontsize=8)
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

Records per source IP address. S3 itself and other AWS services act with a NULL address: their
row is usually the largest by far, so it is left out of the chart (and counted in its title), where
it would squash every address beside it."""),
    ("code", """\
ips = session.run("source_ip_activity", **w).df()
services = int(ips.loc[ips["source_ip_address"].isna(), "record_count"].sum())
top = ips.dropna(subset=["source_ip_address"]).head(15)
fig, ax = plt.subplots(figsize=(8, 4))
ax.barh(top["source_ip_address"][::-1], top["record_count"][::-1])
ax.set(title=f"Requests by source IP (top 15)\\nnot drawn: AWS services, no IP recorded: {services:,} records",
       xlabel="journal records")
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
fig, (left, right) = plt.subplots(1, 2, figsize=(10, 3), layout="constrained")
left.barh(encryption["encryption_status"][::-1], encryption["number_of_keys"][::-1])
left.set(title="Objects by encryption status", xlabel="objects")
right.barh(encryption["encryption_status"][::-1], encryption["total_capacity_in_bytes"][::-1] / 2**30)
right.set(title="Bytes by encryption status", xlabel="GiB")
plt.show()
encryption"""),
    ("md", """\
And the storage classes, also from the inventory (`storage_class_summary`): horizontal bars, so
names such as INTELLIGENT_TIERING and DEEP_ARCHIVE stay readable."""),
    ("code", """\
classes = session.run("storage_class_summary").df()
fig, ax = plt.subplots(figsize=(8, 3), layout="constrained")
ax.barh(classes["storage_class"][::-1], classes["total_bytes"][::-1] / 2**30)
ax.set(title="Stored bytes by storage class", xlabel="GiB")
plt.show()
classes"""),
    ("md", """\
## 6. prefix_delete_volume

Deletes by top-level prefix: where the deleting happens."""),
    ("code", """\
prefixes = session.run("prefix_delete_volume", **w).df()
fig, ax = plt.subplots(figsize=(8, 3.5), layout="constrained")
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

1. **The incident**: the scheduled report (`s3meta report`), replayed here day by day over the
   data, groups related findings into incidents; we pick the mass delete that hid the most keys.
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

import matplotlib.dates as mdates
import matplotlib.pyplot as plt
import pandas as pd

import analytics
from analytics import report, restore
from analytics.detectors import severity_rank
from analytics.detectors.wording import burst
from analytics.notebook import data_end, data_folder, manifest, window
from analytics.params import parse_duration
from analytics.report.state import State

session = analytics.connect(data=data_folder(data))
w = window(data, span)
w"""),
    ("md", """\
## 1. The incident

What cron would have produced: one report a day, each against its 14-day baseline, with a state
that remembers what was already reported. Each report groups related findings (same actor, IP or
prefix, at the same time) into incidents; only incidents with a new finding are kept."""),
    ("code", """\
end, state, incidents = data_end(data), State(), []
for day in range(parse_duration(span).days - 1, -1, -1):
    daily = report.run(session, since=end - timedelta(days=day + 1), until=end - timedelta(days=day), state=state)
    incidents += [i for i in daily.incidents if i.new]
    daily.commit()
pd.DataFrame([(i.severity, i.title, len(i.findings), i.first_seen) for i in incidents],
             columns=["severity", "incident", "findings", "first seen (UTC)"])"""),
    ("md", """\
Which one first? Not the first critical in time: on the first day of the journal the baseline is
empty, so every busy account is "never seen before" and a routine hour of its deletes reads as a
critical mass delete (a report still learning its baseline may hold those at info, but the choice
here must not rest on that). What an attacker does is hide many keys at once, so take the mass
delete that counted the most deletes, then the worst severity, among those whose incident leads to
a restore plan (one held at info can be grouped under another finding, whose next step is not a
restore). Its incident holds the related findings and the command the report says to run next."""),
    ("code", """\
mass = [(i, f) for i in incidents for f in i.findings if f.detector == "mass_delete"
        and any(s.argv[1] == "restore-plan" for s in i.steps)]
if mass:
    incident, finding = max(mass, key=lambda p: (p[1].evidence.get("count") or 0, severity_rank(p[1].severity)))
    actor, ip = finding.evidence.get("requester"), finding.evidence.get("source_ip")
    first, last = finding.first_seen, finding.last_seen
    step = next(s for s in incident.steps if s.argv[1] == "restore-plan")
    selection = {k: v for k, v in step.options().items() if k != "output"}
    deletes = finding.evidence["count"]
    print(f"{incident.severity.upper()}: {incident.title}")
    for f in incident.findings[1:]:
        print(f"  related: {f.severity} {f.title}")
    print(f"next: {step.command}")
else:  # no mass delete in these days: take the fastest burst of delete markers instead
    bursts = [r for r in session.run("delete_markers_by_actor", **w).rows()
              if r["requester"] != "s3.amazonaws.com" and r["delete_markers"] >= 10]
    found = max(bursts, key=lambda r: r["delete_markers"] / max(
        (r["last_marker_at"] - r["first_marker_at"]).total_seconds() / 60, 1.0))
    actor, ip = found["requester"], found["source_ip_address"]
    first, last, deletes = found["first_marker_at"], found["last_marker_at"], found["delete_markers"]
    selection = {"requester": actor, "ip": ip, "since": first.isoformat(),
                 "until": (last + timedelta(seconds=1)).isoformat()}
print(f"actor {actor} from {ip}, {first} to {last} UTC")"""),
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
# Every minute of the two hours around the burst, quiet ones as 0, so the burst shows against them.
minutes = pd.date_range(pd.Timestamp(around["since"]).floor("min"), pd.Timestamp(around["until"]), freq="min")
per_minute_ip = per_minute_ip.reindex(minutes, fill_value=0)
fig, ax = plt.subplots(figsize=(10, 3))
for requester in per_minute_ip.columns:
    ax.step(per_minute_ip.index, per_minute_ip[requester], where="post", label=requester, linewidth=1)
# The burst itself, from its first to its last delete.
ax.axvspan(first, last, color="tab:red", alpha=0.15, label=f"the burst: {burst(deletes, 'delete', first, last)}")
ax.xaxis.set_major_locator(mdates.AutoDateLocator(maxticks=8))
ax.xaxis.set_major_formatter(mdates.DateFormatter("%H:%M"))
ax.set(title=f"Records per minute from {ip}, by requester", xlabel=f"time (UTC) on {first:%Y-%m-%d}",
       ylabel="records per minute")
ax.set_ylim(bottom=0)
ax.legend(loc="upper left", fontsize=8)
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
and hide a version that still exists. The selection is the one in the report's next command
(`s3meta restore-plan ...`), made here through the API: `until` is exclusive, one second past the
last marker."""),
    ("code", """\
plan = restore.plan(session, **selection)
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
