"""Planted attacks and benign twins (analytics.scenarios): the records each writes, its facts, determinism."""

from __future__ import annotations

import json
from collections import Counter
from datetime import datetime, timedelta

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from analytics import fixtures, scenarios, schema
from analytics.errors import BadInput
from conftest import cli

END = datetime(2025, 11, 30)
DAY = timedelta(days=1)
LIFECYCLE = schema.LIFECYCLE_PRINCIPAL


class Planted:
    def __init__(self, out, manifest):
        self.out, self.manifest = out, manifest
        self.facts = manifest["scenarios"]
        read = lambda name: pa.concat_tables([pq.read_table(out / f) for f in manifest["files"][name]])  # noqa: E731
        self.j = read("journal").to_pylist(maps_as_pydicts="strict")
        self.inv = read("inventory").to_pylist(maps_as_pydicts="strict")

    def by(self, requester, ip):
        return [r for r in self.j if r["requester"] == requester and r["source_ip_address"] == ip]

    def history(self, bucket, key):
        return sorted((r for r in self.j if r["bucket"] == bucket and r["key"] == key),
                      key=lambda r: r["sequence_number"])

    def before(self, row):
        """The object state a record replaced: the key's last CREATE or UPDATE_METADATA before it."""
        return [h for h in self.history(row["bucket"], row["key"]) if h["sequence_number"] < row["sequence_number"]
                and h["record_type"] in ("CREATE", "UPDATE_METADATA")]  # annotation records are not the object's


@pytest.fixture(scope="module")
def planted(tmp_path_factory) -> Planted:
    out = tmp_path_factory.mktemp("scenarios")
    return Planted(out, fixtures.generate(out, rows=8000, seed=5, days=14, end=END, incidents=False,
                                          scenarios=tuple(scenarios.SCENARIOS)))


def in_last_day(rows):
    return all(END - DAY <= r["record_timestamp"] < END for r in rows)


def test_the_manifest_lists_every_scenario_with_its_facts(planted):
    assert list(planted.facts) == list(scenarios.SCENARIOS)
    assert set(scenarios.ATTACKS) | set(scenarios.TWINS) == set(scenarios.SCENARIOS)
    assert planted.manifest["rows"] == len(planted.j) and planted.manifest["inventory_rows"] == len(planted.inv)
    text = (planted.out / "manifest.json").read_text(encoding="utf-8")
    assert json.loads(text) == planted.manifest
    known_ips = {r["source_ip_address"] for r in planted.j} - set(scenarios.ATTACKER_IPS.values())
    for name, ip in scenarios.ATTACKER_IPS.items():
        assert planted.facts[name]["ip"] == ip and ip not in known_ips  # attackers come from new addresses


def test_sse_c_ransomware_rewrites_existing_objects_in_place(planted):
    f = planted.facts["sse-c-ransomware"]
    rows = planted.by(f["actor"], f["ip"])
    assert len(rows) == f["count"] >= 60 and in_last_day(rows) and f["actor"] in fixtures.ACCOUNTS
    assert sorted(r["key"] for r in rows) == sorted(f["keys"])
    for r in rows:
        assert (r["record_type"], r["encryption_status"], r["kms_key_arn"]) == ("CREATE", "SSE-C", None)
        before = planted.before(r)
        assert before and before[-1]["encryption_status"] != "SSE-C" and before[-1]["size"] == r["size"]
        assert before[-1]["version_id"] != r["version_id"]  # a new version: the old one is still there
    assert datetime.fromisoformat(f["until"]) - datetime.fromisoformat(f["since"]) <= timedelta(minutes=90)
    # Then S3 Lifecycle, under the rule the attacker set, expires each rewritten object: a delete marker
    # on top of the SSE-C version, within the hour after the last rewrite.
    expired = [r for r in planted.j if r["requester"] == LIFECYCLE and r["key"] in set(f["keys"])
               and r["record_timestamp"] >= datetime.fromisoformat(f["since"])]
    assert len(expired) == f["expired"]["count"] == f["count"] and in_last_day(expired)
    assert all(r["is_delete_marker"] and r["source_ip_address"] is None for r in expired)
    assert timedelta(0) < datetime.fromisoformat(f["expired"]["since"]) - datetime.fromisoformat(f["until"]) \
        <= timedelta(hours=1)
    current = {(r["bucket"], r["key"]): r for r in sorted(planted.inv, key=lambda r: r["sequence_number"])}
    assert all(current[(f["bucket"], k)]["is_delete_marker"] for k in f["keys"])


def test_lifecycle_abuse_expires_everything_over_five_hours(planted):
    f = planted.facts["lifecycle-abuse"]
    markers = [r for r in planted.j if r["bucket"] == f["versioned"]["bucket"] and r["requester"] == LIFECYCLE
               and r["record_type"] == "DELETE" and r["record_timestamp"] >= END - DAY]
    assert len(markers) >= f["versioned"]["count"] > 100  # with the background's own expirations that night
    assert all(r["is_delete_marker"] and r["source_ip_address"] is None for r in markers)
    # Unversioned: permanent deletes, with every column NULL but the six AWS fills.
    erased = [r for r in planted.j if r["bucket"] == f["unversioned"]["bucket"] and r["record_type"] == "DELETE"
              and datetime.fromisoformat(f["unversioned"]["since"]) <= r["record_timestamp"]
              <= datetime.fromisoformat(f["unversioned"]["until"])]
    assert len(erased) >= f["unversioned"]["count"] > 100
    for r in erased:
        assert all(r[c] is None for c in schema.JOURNAL.names if c not in schema.PERMANENT_DELETE_COLUMNS)
    for part in ("versioned", "unversioned"):
        since, until = (datetime.fromisoformat(f[part][k]) for k in ("since", "until"))
        assert END - DAY <= since and until - since > timedelta(hours=4) and until < END - DAY + timedelta(hours=6)
    # The inventory after the run: markers on top of the versioned objects, the unversioned ones gone.
    current: dict[tuple, dict] = {}
    for r in planted.inv:
        if r["sequence_number"] > current.get((r["bucket"], r["key"]), {}).get("sequence_number", ""):
            current[(r["bucket"], r["key"])] = r
    assert all(current[(f["versioned"]["bucket"], k)]["is_delete_marker"] for k in f["versioned"]["sample_keys"])
    assert not any((f["unversioned"]["bucket"], k) in current for k in f["unversioned"]["sample_keys"])


def test_low_and_slow_stays_under_every_two_hour_threshold(planted):
    f = planted.facts["low-and-slow"]
    rows = planted.by(f["actor"], f["ip"])
    assert len(rows) == f["count"] > 60 and in_last_day(rows)
    assert all(r["record_type"] == "DELETE" and r["is_delete_marker"] for r in rows)
    per_hour = Counter(r["record_timestamp"].replace(minute=0, second=0, microsecond=0) for r in rows)
    assert max(per_hour.values()) == f["max_per_hour"] <= 7 and len(per_hour) >= 20
    assert Counter(r["key"].split("/")[0] + "/" for r in rows) == Counter(f["prefixes"])
    assert any(r["requester"] == f["actor"] for r in planted.j if r["record_timestamp"] < END - DAY)  # known account


def test_kms_key_swap_uses_a_foreign_accounts_key(planted):
    f = planted.facts["kms-key-swap"]
    rows = planted.by(f["actor"], f["ip"])
    assert len(rows) == f["count"] == 40 and in_last_day(rows)
    assert {(r["encryption_status"], r["kms_key_arn"]) for r in rows} == {("SSE-KMS", f["kms_key_arn"])}
    assert f["kms_key_arn"].split(":")[4] == f["account"] not in {a.split(":")[4] for a in fixtures.KMS_KEY_ARNS}
    assert sum(f["previous_encryption"].values()) == 40 and len(f["previous_encryption"]) > 1


def test_tag_tampering_rewrites_verdicts_and_strips_protected_tags(planted):
    f = planted.facts["tag-tampering"]
    rows = planted.by(f["actor"], f["ip"])
    assert len(rows) == f["verdicts"]["count"] + f["stripped"]["count"] and in_last_day(rows)
    assert all(r["record_type"] == "UPDATE_METADATA" for r in rows)
    for key, version in zip(f["verdicts"]["keys"], f["verdicts"]["version_ids"], strict=True):
        history = planted.history("acme-prod-data", key)
        assert [(h["record_type"], h["requester"]) for h in history] == [
            ("CREATE", scenarios.PARTNER_ACCOUNT), ("UPDATE_METADATA", fixtures.GUARDDUTY_PRINCIPAL),
            ("UPDATE_METADATA", f["actor"])]
        assert [h["object_tags"].get(schema.GUARDDUTY_TAG) for h in history] == [
            None, "THREATS_FOUND", "NO_THREATS_FOUND"]
        assert {h["version_id"] for h in history} == {version}
        assert END - 6 * DAY <= history[1]["record_timestamp"] < END - 3 * DAY  # flagged in the baseline
    stripped = [r for r in rows if r["key"] in f["stripped"]["keys"]]
    for r in stripped:
        before = planted.before(r)
        lost = set(before[-1]["object_tags"]) - set(r["object_tags"])
        assert lost and lost <= set(scenarios.PROTECTED_TAGS) and before[-1]["version_id"] == r["version_id"]


def test_destructive_overwrite_leaves_empty_or_tiny_objects(planted):
    f = planted.facts["destructive-overwrite"]
    rows = planted.by(f["actor"], f["ip"])
    assert len(rows) == f["count"] == 40 and in_last_day(rows)
    sizes = {o["key"]: o for o in f["objects"]}
    for r in rows:
        o = sizes[r["key"]]
        assert r["size"] == o["size_after"] and o["size_after"] * 100 <= o["size_before"]
    assert f["empty"] == sum(1 for r in rows if r["size"] == 0) >= 10


def test_twins_repeat_every_night(planted):
    lifecycle = planted.facts["nightly-lifecycle"]
    assert len(lifecycle["markers_per_night"]) >= 10 and all(50 <= n <= 70 for n in
                                                             lifecycle["markers_per_night"].values())
    staged = [r for r in planted.j if r["key"].startswith("staging/") and r["record_type"] == "DELETE"]
    assert {r["requester"] for r in staged if r["is_delete_marker"]} == {LIFECYCLE}
    assert all(r["record_timestamp"].hour < 4 for r in staged)
    batch = planted.facts["nightly-batch-rewrite"]
    rows = [r for r in planted.j if r["key"].startswith(batch["prefix"])]
    assert len(rows) == batch["objects"] * len(batch["nights"]) and len(batch["nights"]) == 14
    assert {(r["requester"], r["source_ip_address"]) for r in rows} == {(batch["requester"], batch["ip"])}
    by_key: dict[str, list] = {}
    for r in sorted(rows, key=lambda r: r["record_timestamp"]):
        by_key.setdefault(r["key"], []).append(r)
    for versions in by_key.values():  # same encryption every night, sizes within 15% of the night before
        assert len({(v["encryption_status"], v["kms_key_arn"]) for v in versions}) == 1
        assert all(0.8 < b["size"] / a["size"] < 1.2 for a, b in zip(versions, versions[1:], strict=False))
    rescan = planted.facts["guardduty-rescan"]
    retagged = [r for r in planted.j if r["key"] in rescan["keys"] and r["record_timestamp"] >= END - DAY]
    assert len(retagged) == rescan["count"] and {r["requester"] for r in retagged} == {fixtures.GUARDDUTY_PRINCIPAL}


def test_planting_is_deterministic_and_independent_of_the_order_asked(tmp_path):
    names = ("guardduty-rescan", "low-and-slow", "kms-key-swap")
    a = fixtures.generate(tmp_path / "a", rows=4000, seed=3, days=14, end=END, scenarios=names)
    b = fixtures.generate(tmp_path / "b", rows=4000, seed=3, days=14, end=END, scenarios=names[::-1] + names[:1])
    assert a == b and list(a["scenarios"]) == ["low-and-slow", "kms-key-swap", "guardduty-rescan"]
    for rel in a["files"]["journal"] + a["files"]["inventory"] + ["manifest.json"]:
        assert (tmp_path / "a" / rel).read_bytes() == (tmp_path / "b" / rel).read_bytes(), rel
    # Regenerating without scenarios leaves no scenario part behind.
    plain = fixtures.generate(tmp_path / "a", rows=4000, seed=3, days=14, end=END)
    assert "scenarios" not in plain and sorted(p.name for p in (tmp_path / "a" / "journal").iterdir()) == [
        "part-00000.parquet"]


def test_unknown_or_impossible_scenarios_are_one_line_errors(tmp_path):
    with pytest.raises(BadInput, match="unknown scenario 'codefinger' .known: sse-c-ransomware, "):
        fixtures.generate(tmp_path, rows=1000, end=END, scenarios=("codefinger",))
    assert not (tmp_path / "journal").exists()  # refused before anything is written
    with pytest.raises(BadInput, match="scenario sse-c-ransomware: only \\d+ suitable objects .* generate more rows"):
        fixtures.generate(tmp_path, rows=300, end=END, scenarios=("sse-c-ransomware",))


def test_cli_plants_scenarios_and_refuses_unknown_ones(tmp_path):
    proc = cli("fixtures", "generate", "--out", str(tmp_path / "d"), "--rows", "4000", "--end", "2025-11-30",
               "--scenario", "low-and-slow", "--scenario", "nightly-lifecycle", "--no-incidents")
    assert proc.returncode == 0, proc.stderr
    manifest = json.loads((tmp_path / "d" / "manifest.json").read_text(encoding="utf-8"))
    assert list(manifest["scenarios"]) == ["low-and-slow", "nightly-lifecycle"] and manifest["incidents"] == {}
    proc = cli("fixtures", "generate", "--out", str(tmp_path / "e"), "--scenario", "nope")
    assert proc.returncode == 2 and proc.stderr.strip().splitlines() == [
        f"s3meta: error: unknown scenario 'nope' (known: {', '.join(scenarios.SCENARIOS)})"]
    help_text = "".join(cli("fixtures", "generate", "--help").stdout.split())  # argparse wraps at hyphens
    assert all(name in help_text for name in scenarios.SCENARIOS)
