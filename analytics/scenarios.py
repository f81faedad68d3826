"""Documented S3 attacks and their benign twins, planted as journal records over a generated background.

`s3meta fixtures generate --scenario NAME` (Python: `fixtures.generate(..., scenarios=[...])`) adds
each named scenario to the data set the generator has just written: its journal records go into
one more journal part, and the inventory is changed exactly as replaying those records changes it.
Attacks happen in the data set's last day (the window a daily report reads); twins happen every
night of the data set, so the baseline knows them as well as the window does.

Attacks (the S3 attacks of 2024-2025, and MITRE ATT&CK T1485.001):
  sse-c-ransomware     a known account's stolen key rewrites objects in place with SSE-C (the
                       "Codefinger" campaign): unreadable without the attacker's key; then S3
                       Lifecycle, under the rule the attacker set, expires them
  lifecycle-abuse      a lifecycle rule set to expire everything: delete markers by S3 Lifecycle in
                       a versioned bucket, permanent deletes in an unversioned one
  low-and-slow         a few delete markers an hour for a day, by a known account from a new address
  kms-key-swap         objects rewritten under a KMS key of a foreign account
  tag-tampering        GuardDuty's THREATS_FOUND verdicts rewritten to NO_THREATS_FOUND, and
                       classification/retention tags stripped, by a user account
  destructive-overwrite  objects overwritten with empty or tiny ones: data destroyed, nothing deleted
Benign twins:
  nightly-lifecycle    a staging prefix whose objects S3 Lifecycle expires every night
  nightly-batch-rewrite  a job rewriting the same 250 objects every night with their usual encryption
  guardduty-rescan     GuardDuty itself re-tagging objects NO_THREATS_FOUND after a rescan

Each scenario is a function `(background, rng, records) -> facts`: it picks its objects from the
background's live objects (ones nothing touches after the scenario does, so the replay stays
consistent), appends journal records, and returns the facts tests assert against (actor, IP, keys,
times), which the manifest lists under "scenarios".
"""

from __future__ import annotations

import os
import zlib
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Callable, Iterable

import numpy as np
import pyarrow as pa

from analytics import schema
from analytics.errors import BadInput

PROD, LOGS, MEDIA = "acme-prod-data", "acme-logs", "acme.media.assets"
VERSIONED = {PROD: True, LOGS: False, MEDIA: True}
MAIN_ACCOUNT, PARTNER_ACCOUNT, SMALL_ACCOUNT = "111122223333", "444455556666", "777788889999"
GUARDDUTY = "malware-protection-plan.guardduty.amazonaws.com"  # as analytics.fixtures.GUARDDUTY_PRINCIPAL
FOREIGN_ACCOUNT = "210987654321"
FOREIGN_KMS_KEY = f"arn:aws:kms:us-east-1:{FOREIGN_ACCOUNT}:key/5e1f0b2a-7c3d-4e8f-9a0b-1c2d3e4f5a6b"
OWN_KMS_KEY = "arn:aws:kms:us-east-1:111122223333:key/7f8e9d0c-1b2a-4c3d-9e8f-a1b2c3d4e5f6"
# Attacker addresses: TEST-NET-3 (RFC 5737), which the background never uses (its mass delete takes .66).
ATTACKER_IPS = {"sse-c-ransomware": "203.0.113.77", "low-and-slow": "203.0.113.88", "kms-key-swap": "203.0.113.99",
                "tag-tampering": "203.0.113.120", "destructive-overwrite": "203.0.113.150"}
PROTECTED_TAGS = ("classification", "retention", "legal-hold")

HOUR = timedelta(hours=1)
DAY = timedelta(days=1)
MS = timedelta(milliseconds=1)
_MIB = 1 << 20
_URLSAFE = np.frombuffer(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_", np.uint8)
_HEX = np.frombuffer(b"0123456789abcdef", np.uint8)
_ALNUM_UP = np.frombuffer(b"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789", np.uint8)
_JOURNAL_COLUMNS = ("bucket", "key", "version_id", "sequence_number", "record_type", "record_timestamp",
                    "requester", "source_ip_address")


def _prefix(key: str) -> str:
    return key[:key.index("/") + 1] if "/" in key else ""


# --- the background, as the generator wrote it ---------------------------------------------------------

@dataclass
class Background:
    """What the scenarios read: the data set's span, its live objects and who acts from where.

    `objects` maps (bucket, key) to the current version's inventory row (delete markers left
    out); `last_touch` to the time of the key's newest journal record; `journal_versions` holds the
    (bucket, key, version_id) of each key's newest CREATE or UPDATE_METADATA record not made by S3
    Lifecycle: a later change to those can be set against the state the journal shows. (A key whose
    newest version was deleted for good has an older one current, which the journal's last write
    does not describe: it is left out.) Scenarios claim the keys they use, so no two
    touch the same object, and update `objects` as they write.
    """

    start: datetime
    end: datetime
    journal_rows: int
    objects: dict[tuple[str, str], dict]
    last_touch: dict[tuple[str, str], datetime]
    journal_versions: set[tuple[str, str, str | None]]
    ips_by_requester: dict[str, Counter]
    annotated: set[tuple[str, str, str]] = field(default_factory=set)
    claimed: set[tuple[str, str]] = field(default_factory=set)

    @classmethod
    def load(cls, out: Path, files: dict, start: datetime, end: datetime) -> "Background":
        import pyarrow.parquet as pq  # here, not above: the CLI imports this module for its help (SCENARIOS)

        journal = pq.read_table([out / f for f in files["journal"]], columns=list(_JOURNAL_COLUMNS))
        inventory = pq.read_table([out / f for f in files["inventory"]]).to_pylist(maps_as_pydicts="strict")
        objects: dict[tuple[str, str], dict] = {}
        newest: dict[tuple[str, str], str] = {}
        for row in inventory:
            ident = (row["bucket"], row["key"])
            if row["sequence_number"] > newest.get(ident, ""):
                newest[ident] = row["sequence_number"]
                objects[ident] = row
        objects = {ident: row for ident, row in objects.items() if not row["is_delete_marker"]}
        touched = journal.group_by(["bucket", "key"]).aggregate([("record_timestamp", "max")])
        last_touch = dict(zip(zip(touched["bucket"].to_pylist(), touched["key"].to_pylist(), strict=True),
                              touched["record_timestamp_max"].to_pylist(), strict=True))
        rows = journal.select(["bucket", "key", "version_id", "sequence_number", "record_type", "requester",
                               "source_ip_address"])
        columns = {name: rows[name].to_pylist() for name in rows.column_names}
        # The version of each key's newest record the detectors set a later change against (Lifecycle's
        # are left out, as detect_rewrites leaves them out).
        newest_write: dict[tuple[str, str], tuple[str, str | None]] = {}
        for b, k, v, seq, t, who in zip(columns["bucket"], columns["key"], columns["version_id"],
                                        columns["sequence_number"], columns["record_type"], columns["requester"],
                                        strict=True):
            if t in ("CREATE", "UPDATE_METADATA") and who != schema.LIFECYCLE_PRINCIPAL:
                if seq > newest_write.get((b, k), ("", None))[0]:
                    newest_write[(b, k)] = (seq, v)
        created = {(b, k, v) for (b, k), (_, v) in newest_write.items()}
        ips: dict[str, Counter] = {}
        for requester, ip in zip(columns["requester"], columns["source_ip_address"], strict=True):
            if requester is not None and ip is not None:
                ips.setdefault(requester, Counter())[ip] += 1
        # Versions with annotations are left alone: overwriting or erasing one would have to drop its
        # rows from the annotation table, which the planting does not rewrite.
        annotated = set()
        if files.get("annotation"):
            table = pq.read_table([out / f for f in files["annotation"]], columns=["bucket", "object_key",
                                                                                "object_join_key"])
            annotated = set(zip(table["bucket"].to_pylist(), table["object_key"].to_pylist(),
                                table["object_join_key"].to_pylist(), strict=True))
        return cls(start, end, journal.num_rows, objects, last_touch, created, ips, annotated)

    def usual_ip(self, requester: str) -> str:
        """The address the account uses most in the background (ties: the smallest)."""
        counts = self.ips_by_requester.get(requester)
        if not counts:
            raise BadInput(f"scenario: account {requester} does not act in the background; generate more rows")
        return min(counts.items(), key=lambda kv: (-kv[1], kv[0]))[0]

    def live(self, bucket: str, prefixes: Iterable[str] = ("",), untouched_since: datetime | None = None,
             with_history: bool = False, where: Callable[[dict], bool] | None = None) -> list[dict]:
        """Live current versions under the prefixes, in key order, that nothing touches from `untouched_since` on."""
        prefixes = tuple(prefixes)
        found = []
        for (b, key), row in sorted(self.objects.items()):
            if b != bucket or not key.startswith(prefixes) or (b, key) in self.claimed:
                continue
            if untouched_since is not None and self.last_touch.get((b, key), self.start) >= untouched_since:
                continue
            if with_history and (b, key, row["version_id"]) not in self.journal_versions:
                continue
            if (b, key, row.get("object_join_key")) in self.annotated:
                continue
            if row["e_tag"] is None or (where is not None and not where(row)):
                continue
            found.append(row)
        return found

    def pick(self, rng: np.random.Generator, candidates: list[dict], n: int, what: str) -> list[dict]:
        """n of the candidates (all of them if n is None), claimed; too few is a one-line error."""
        if len(candidates) < n:
            raise BadInput(f"scenario {what}: only {len(candidates)} suitable objects in the background "
                           f"(needs {n}); generate more rows")
        chosen = [candidates[i] for i in sorted(rng.choice(len(candidates), n, replace=False))]
        self.claimed.update((r["bucket"], r["key"]) for r in chosen)
        return chosen

    def scale(self, per_rows: int, low: int, high: int) -> int:
        return int(min(max(self.journal_rows // per_rows, low), high))


# --- journal records -----------------------------------------------------------------------------------

class Records:
    """The scenario journal records, built with the background's formats and AWS's NULL rules."""

    def __init__(self, background: Background):
        self.background = background
        self.rows: list[dict] = []

    @staticmethod
    def _seq(bucket: str, key: str, t: datetime, counter: int = 0) -> str:
        # As the generator's: record time (microseconds), a counter, an object number; 40 hex digits.
        us = (t - datetime(1970, 1, 1)) // timedelta(microseconds=1)
        return f"{us:016X}{counter:08X}{zlib.crc32(f'{bucket}/{key}'.encode()):016X}"

    @staticmethod
    def _chars(rng: np.random.Generator, alphabet: np.ndarray, n: int) -> str:
        return alphabet[rng.integers(0, len(alphabet), n)].tobytes().decode("ascii")

    def _add(self, row: dict) -> dict:
        self.rows.append(row)
        return row

    def write(self, rng: np.random.Generator, bucket: str, key: str, t: datetime, requester: str, ip: str | None,
              size: int, encryption: str | None, kms_key_arn: str | None = None, tags: dict | None = None,
              metadata: dict | None = None, checksum: str | None = "CRC64NVME") -> dict:
        """A CREATE: a new object, a new version on top (versioned bucket), or a replacement (unversioned)."""
        multipart = size >= 100 * _MIB
        e_tag = self._chars(rng, _HEX, 32) + (f"-{-(-size // (16 * _MIB))}" if multipart else "")
        lag = (size / (40 * _MIB) + rng.uniform(2, 60)) if multipart else (0.005 + rng.exponential(0.3))
        lag_ms = timedelta(milliseconds=int(lag * 1000))
        row = self._add({
            "bucket": bucket, "key": key, "sequence_number": self._seq(bucket, key, t), "record_type": "CREATE",
            "record_timestamp": t, "version_id": self._chars(rng, _URLSAFE, 32) if VERSIONED[bucket] else None,
            "is_delete_marker": False, "size": int(size), "last_modified_date": t - lag_ms, "e_tag": e_tag,
            "storage_class": "STANDARD", "is_multipart": multipart, "encryption_status": encryption,
            "is_bucket_key_enabled": False, "kms_key_arn": kms_key_arn, "checksum_algorithm": checksum,
            "object_tags": dict(tags or {}), "user_metadata": dict(metadata or {}), "requester": requester,
            "source_ip_address": ip, "request_id": self._chars(rng, _ALNUM_UP, 16),
            "object_join_key": self._chars(rng, _HEX, 32)})  # a new version, or a rewritten null one: a new key
        self.background.objects[(bucket, key)] = {c: row[c] for c in schema.INVENTORY.names}
        return row

    def rewrite(self, rng: np.random.Generator, obj: dict, t: datetime, requester: str, ip: str | None,
                **changes) -> dict:
        """Overwrite an object in place, keeping its tags and user metadata (as CopyObject does)."""
        values = {"size": obj["size"], "encryption": obj["encryption_status"], "kms_key_arn": obj["kms_key_arn"],
                  "tags": obj["object_tags"], "metadata": obj["user_metadata"],
                  "checksum": obj["checksum_algorithm"], **changes}
        return self.write(rng, obj["bucket"], obj["key"], t, requester, ip, **values)

    def tag(self, rng: np.random.Generator, obj: dict, t: datetime, requester: str, ip: str | None,
            tags: dict) -> dict:
        """An UPDATE_METADATA of the object's current version: PutObjectTagging replaces the whole tag set."""
        row = self._add({**{c: obj[c] for c in schema.INVENTORY.names},
                         "sequence_number": self._seq(obj["bucket"], obj["key"], t),
                         "record_type": "UPDATE_METADATA", "record_timestamp": t, "object_tags": dict(tags),
                         "requester": requester, "source_ip_address": ip,
                         "request_id": self._chars(rng, _ALNUM_UP, 16)})
        self.background.objects[(obj["bucket"], obj["key"])] = {c: row[c] for c in schema.INVENTORY.names}
        return row

    def marker(self, rng: np.random.Generator, bucket: str, key: str, t: datetime, requester: str,
               ip: str | None) -> dict:
        """A delete marker (versioned bucket): it hides the current version, which stays stored."""
        row = self._add({c: None for c in schema.JOURNAL.names} | {
            "bucket": bucket, "key": key, "sequence_number": self._seq(bucket, key, t), "record_type": "DELETE",
            "record_timestamp": t, "version_id": self._chars(rng, _URLSAFE, 32), "is_delete_marker": True,
            "size": 0, "last_modified_date": t, "requester": requester, "source_ip_address": ip,
            "request_id": self._chars(rng, _ALNUM_UP, 16), "object_join_key": self._chars(rng, _HEX, 32)})
        self.background.objects.pop((bucket, key), None)
        return row

    def erase(self, bucket: str, key: str, version_id: str | None, t: datetime) -> dict:
        """A permanent delete: NULL in every column but the six AWS always fills (its NULL rule)."""
        row = self._add({c: None for c in schema.JOURNAL.names} | {
            "bucket": bucket, "key": key, "sequence_number": self._seq(bucket, key, t), "record_type": "DELETE",
            "record_timestamp": t, "version_id": version_id})
        current = self.background.objects.get((bucket, key))
        if current is not None and current["version_id"] == version_id:
            self.background.objects.pop((bucket, key))
        return row


def _times(rng: np.random.Generator, start: datetime, span: timedelta, n: int) -> list[datetime]:
    """n distinct whole-millisecond times in [start, start + span), in order."""
    ms = np.sort(rng.choice(int(span / MS), n, replace=False))
    return [start + int(m) * MS for m in ms]


def _attack_start(bg: Background, rng: np.random.Generator, latest: timedelta) -> datetime:
    """A whole second in the data set's last day, leaving `latest` before its end."""
    day = bg.end - DAY
    return day + 2 * HOUR + int(rng.integers(0, int((DAY - 2 * HOUR - latest) / timedelta(seconds=1)))) * \
        timedelta(seconds=1)


def _iso(t: datetime) -> str:
    return t.isoformat()


def _window(rows: list[dict]) -> dict:
    times = [r["record_timestamp"] for r in rows]
    return {"since": _iso(min(times)), "until": _iso(max(times))}


# --- attacks ---------------------------------------------------------------------------------------------

def sse_c_ransomware(bg: Background, rng: np.random.Generator, records: Records) -> dict:
    """Codefinger (2025): a stolen key of a known account rewrites objects in place under SSE-C, then sets
    a lifecycle rule that expires them (the rule change is in CloudTrail; the journal shows S3
    Lifecycle's delete markers on the rewritten objects). The campaign's rule expires them within days;
    here Lifecycle's run follows the rewrites within the hour, so one daily window holds the whole incident.
    """
    t0 = _attack_start(bg, rng, 5 * HOUR)
    victims = bg.pick(rng, bg.live(PROD, ("reports/", "exports/"), untouched_since=t0, with_history=True,
                                   where=lambda r: r["encryption_status"] != "SSE-C"),
                      bg.scale(100, 80, 400), "sse-c-ransomware")
    ip = ATTACKER_IPS["sse-c-ransomware"]
    rows = [records.rewrite(rng, obj, t, PARTNER_ACCOUNT, ip, encryption="SSE-C", kms_key_arn=None)
            for obj, t in zip(victims, _times(rng, t0, 90 * 60 * 1000 * MS, len(victims)), strict=True)]
    # Lifecycle's run starts a little after the last rewrite and takes the objects in an order of its own.
    run = rows[-1]["record_timestamp"] + int(rng.integers(5, 30)) * timedelta(minutes=1)
    order = rng.permutation(len(rows))
    expired = [records.marker(rng, PROD, rows[i]["key"], t, schema.LIFECYCLE_PRINCIPAL, None)
               for i, t in zip(order, _times(rng, run, 2 * HOUR, len(rows)), strict=True)]
    return {"bucket": PROD, "actor": PARTNER_ACCOUNT, "ip": ip, "count": len(rows),
            "prefixes": dict(sorted(Counter(_prefix(r["key"]) for r in rows).items())),
            "keys": [r["key"] for r in rows], "previous_encryption": dict(sorted(Counter(
                str(v["encryption_status"]) for v in victims).items())), **_window(rows),
            "expired": {"requester": schema.LIFECYCLE_PRINCIPAL, "count": len(expired), **_window(expired)}}


def lifecycle_abuse(bg: Background, rng: np.random.Generator, records: Records) -> dict:
    """T1485.001: a rule expiring everything; the next Lifecycle run spreads it over five hours."""
    run = bg.end - DAY + 10 * timedelta(minutes=1)
    facts = {"requester": schema.LIFECYCLE_PRINCIPAL}
    for label, bucket in (("versioned", MEDIA), ("unversioned", LOGS)):
        every = bg.live(bucket, untouched_since=run)  # "expire everything": all of the bucket's live objects
        victims = bg.pick(rng, every, max(len(every), 1), "lifecycle-abuse")
        rows = []
        for obj, t in zip(victims, _times(rng, run, 5 * HOUR, len(victims)), strict=True):
            if VERSIONED[bucket]:
                rows.append(records.marker(rng, bucket, obj["key"], t, schema.LIFECYCLE_PRINCIPAL, None))
            else:  # a permanent delete: per AWS's NULL rule the journal names no requester
                rows.append(records.erase(bucket, obj["key"], obj["version_id"], t))
        facts[label] = {"bucket": bucket, "count": len(rows),
                        "prefixes": dict(sorted(Counter(_prefix(r["key"]) for r in rows).items())),
                        "sample_keys": [r["key"] for r in rows[:10]], **_window(rows)}
    return facts


def low_and_slow(bg: Background, rng: np.random.Generator, records: Records) -> dict:
    """A few delete markers an hour for a day: under every 2-hour threshold, by a known account."""
    start = bg.end - 23 * HOUR
    per_hour = rng.integers(3, 8, 22)
    victims = bg.pick(rng, bg.live(PROD, ("finance/", "reports/"), untouched_since=start), int(per_hour.sum()),
                      "low-and-slow")
    order = rng.permutation(len(victims))
    times = [t for h, n in enumerate(per_hour) for t in _times(rng, start + h * HOUR, HOUR, int(n))]
    ip = ATTACKER_IPS["low-and-slow"]
    rows = [records.marker(rng, PROD, victims[i]["key"], t, SMALL_ACCOUNT, ip) for i, t in zip(order, times,
                                                                                               strict=True)]
    rows.sort(key=lambda r: r["record_timestamp"])
    return {"bucket": PROD, "actor": SMALL_ACCOUNT, "ip": ip, "count": len(rows),
            "prefixes": dict(sorted(Counter(_prefix(r["key"]) for r in rows).items())),
            "keys": [r["key"] for r in rows], "max_per_hour": int(per_hour.max()), **_window(rows)}


def kms_key_swap(bg: Background, rng: np.random.Generator, records: Records) -> dict:
    """Objects rewritten under a KMS key of the attacker's account, which can later disable it."""
    t0 = _attack_start(bg, rng, HOUR)
    victims = bg.pick(rng, bg.live(PROD, ("exports/", "ssekms-only/"), untouched_since=t0), 40, "kms-key-swap")
    ip = ATTACKER_IPS["kms-key-swap"]
    rows = [records.rewrite(rng, obj, t, MAIN_ACCOUNT, ip, encryption="SSE-KMS", kms_key_arn=FOREIGN_KMS_KEY)
            for obj, t in zip(victims, _times(rng, t0, 30 * 60 * 1000 * MS, len(victims)), strict=True)]
    return {"bucket": PROD, "actor": MAIN_ACCOUNT, "ip": ip, "kms_key_arn": FOREIGN_KMS_KEY,
            "account": FOREIGN_ACCOUNT, "count": len(rows), "keys": [r["key"] for r in rows],
            "previous_encryption": dict(sorted(Counter(str(v["encryption_status"]) for v in victims).items())),
            **_window(rows)}


def _threats(bg: Background, rng: np.random.Generator, records: Records, n: int, what: str) -> list[dict]:
    """n uploads GuardDuty tags THREATS_FOUND, 3 to 6 days before the end (in a daily report's baseline)."""
    uploader = PARTNER_ACCOUNT
    ip = bg.usual_ip(uploader)
    found = []
    for i, t in enumerate(_times(rng, bg.end - 6 * DAY, 3 * DAY, n)):
        key = f"uploads/{what}/invoice-{i:03d}.pdf.exe"
        records.write(rng, PROD, key, t, uploader, ip, size=int(rng.integers(40_000, 900_000)),
                      encryption="SSE-S3")
        scan = t + timedelta(seconds=int(rng.integers(20, 240)))
        obj = bg.objects[(PROD, key)]
        records.tag(rng, obj, scan, GUARDDUTY, None, {**obj["object_tags"], schema.GUARDDUTY_TAG: "THREATS_FOUND"})
        bg.claimed.add((PROD, key))
        found.append(bg.objects[(PROD, key)])
    return found


def tag_tampering(bg: Background, rng: np.random.Generator, records: Records) -> dict:
    """A user rewrites GuardDuty's THREATS_FOUND verdicts and strips classification and retention tags."""
    threats = _threats(bg, rng, records, 4, "tampered")
    t0 = _attack_start(bg, rng, HOUR)
    protected = bg.pick(rng, bg.live(PROD, ("finance/", "ssekms-only/"), untouched_since=t0, with_history=True,
                                     where=lambda r: any(k in PROTECTED_TAGS for k in r["object_tags"])),
                        30, "tag-tampering")
    ip = ATTACKER_IPS["tag-tampering"]
    times = _times(rng, t0, HOUR, len(threats) + len(protected))
    verdicts = [records.tag(rng, obj, t, PARTNER_ACCOUNT, ip,
                            {**obj["object_tags"], schema.GUARDDUTY_TAG: "NO_THREATS_FOUND"})
                for obj, t in zip(threats, times, strict=False)]
    stripped = [records.tag(rng, obj, t, PARTNER_ACCOUNT, ip,
                            {k: v for k, v in obj["object_tags"].items() if k not in PROTECTED_TAGS})
                for obj, t in zip(protected, times[len(threats):], strict=True)]
    removed = Counter(k for obj in protected for k in obj["object_tags"] if k in PROTECTED_TAGS)
    return {"bucket": PROD, "actor": PARTNER_ACCOUNT, "ip": ip,
            "verdicts": {"count": len(verdicts), "keys": [r["key"] for r in verdicts],
                         "version_ids": [r["version_id"] for r in verdicts]},
            "stripped": {"count": len(stripped), "keys": [r["key"] for r in stripped],
                         "removed_tags": dict(sorted(removed.items()))},
            **_window(verdicts + stripped)}


def destructive_overwrite(bg: Background, rng: np.random.Generator, records: Records) -> dict:
    """Objects overwritten with empty or tiny ones by a known account's stolen key: nothing is deleted."""
    t0 = _attack_start(bg, rng, HOUR)
    victims = bg.pick(rng, bg.live(PROD, ("images/", "reports/"), untouched_since=t0, with_history=True,
                                   where=lambda r: r["size"] >= 4096), 40, "destructive-overwrite")
    ip = ATTACKER_IPS["destructive-overwrite"]
    rows, objects = [], []
    for i, (obj, t) in enumerate(zip(victims, _times(rng, t0, 45 * 60 * 1000 * MS, len(victims)), strict=True)):
        size = 0 if i % 3 == 0 else int(rng.integers(1, max(2, min(obj["size"] // 100, 512))))
        rows.append(records.rewrite(rng, obj, t, MAIN_ACCOUNT, ip, size=size, encryption="SSE-S3", kms_key_arn=None))
        objects.append({"key": obj["key"], "size_before": obj["size"], "size_after": size})
    return {"bucket": PROD, "actor": MAIN_ACCOUNT, "ip": ip, "count": len(rows), "objects": objects,
            "empty": sum(1 for o in objects if o["size_after"] == 0), **_window(rows)}


# --- benign twins ---------------------------------------------------------------------------------------

def _nights(bg: Background) -> list[datetime]:
    first = bg.start.replace(hour=0, minute=0, second=0, microsecond=0)
    first += DAY if first < bg.start else timedelta(0)
    return [first + i * DAY for i in range((bg.end - first) // DAY + 1) if first + i * DAY < bg.end]


def nightly_lifecycle(bg: Background, rng: np.random.Generator, records: Records) -> dict:
    """Daily exports to staging/ that S3 Lifecycle expires two days later, every night, and cleans up after."""
    etl, ip = MAIN_ACCOUNT, bg.usual_ip(MAIN_ACCOUNT)
    batches = []
    for day in _nights(bg):
        evening = day + 18 * HOUR
        n = int(rng.integers(50, 71))
        if evening >= bg.end:
            continue
        keys = [f"staging/{day:%Y-%m-%d}/batch-{i:04d}.csv" for i in range(n)]
        objs = [records.write(rng, PROD, key, t, etl, ip, size=int(rng.lognormal(13, 1)), encryption="SSE-S3")
                for key, t in zip(keys, _times(rng, evening, 2 * HOUR, n), strict=True)]
        batches.append((day, [dict(o) for o in objs]))
        bg.claimed.update((PROD, k) for k in keys)
    markers, erased = Counter(), Counter()
    for day, objs in batches:
        expire = day + 2 * DAY  # Expiration: 2 days after creation, at the next Lifecycle run
        if expire >= bg.end:
            continue
        for obj, t in zip(objs, _times(rng, expire + 5 * timedelta(minutes=1), 3 * HOUR, len(objs)), strict=True):
            records.marker(rng, PROD, obj["key"], t, schema.LIFECYCLE_PRINCIPAL, None)
            markers[_iso(expire)] += 1
        cleanup = expire + DAY  # NoncurrentVersionExpiration: 1 day
        if cleanup >= bg.end:
            continue
        for obj, t in zip(objs, _times(rng, cleanup + 5 * timedelta(minutes=1), 3 * HOUR, len(objs)), strict=True):
            records.erase(PROD, obj["key"], obj["version_id"], t)
            erased[_iso(cleanup)] += 1
    return {"bucket": PROD, "prefix": "staging/", "uploader": etl, "ip": ip,
            "markers_per_night": dict(markers), "erased_per_night": dict(erased)}


def nightly_batch_rewrite(bg: Background, rng: np.random.Generator, records: Records) -> dict:
    """A warehouse job rewriting the same 250 objects every night, with each object's usual encryption."""
    job, ip = PARTNER_ACCOUNT, bg.usual_ip(PARTNER_ACCOUNT)
    n = 250
    keys = [f"warehouse/tables/part-{i:05d}.parquet" for i in range(n)]
    kms = rng.random(n) < 0.6
    sizes = rng.lognormal(15, 1, n)
    bg.claimed.update((PROD, k) for k in keys)
    nights = []
    for day in _nights(bg):
        for i, t in enumerate(_times(rng, day + HOUR, 90 * timedelta(minutes=1), n)):
            sizes[i] *= rng.uniform(0.85, 1.15)
            records.write(rng, PROD, keys[i], t, job, ip, size=int(sizes[i]),
                          encryption="SSE-KMS" if kms[i] else "SSE-S3", kms_key_arn=OWN_KMS_KEY if kms[i] else None)
        nights.append(_iso(day + HOUR))
    return {"bucket": PROD, "prefix": "warehouse/", "requester": job, "ip": ip, "objects": n, "nights": nights}


def guardduty_rescan(bg: Background, rng: np.random.Generator, records: Records) -> dict:
    """GuardDuty rescans objects it had flagged and re-tags them NO_THREATS_FOUND (a false positive cleared)."""
    threats = _threats(bg, rng, records, 4, "rescanned")
    t0 = _attack_start(bg, rng, HOUR)
    rows = [records.tag(rng, obj, t, GUARDDUTY, None, {**obj["object_tags"], schema.GUARDDUTY_TAG: "NO_THREATS_FOUND"})
            for obj, t in zip(threats, _times(rng, t0, HOUR, len(threats)), strict=True)]
    return {"bucket": PROD, "requester": GUARDDUTY, "count": len(rows), "keys": [r["key"] for r in rows],
            **_window(rows)}


# Planted in this order, whatever order they are asked for in, so a set of names always gives the same data.
SCENARIOS: dict[str, Callable[[Background, np.random.Generator, Records], dict]] = {
    "sse-c-ransomware": sse_c_ransomware,
    "lifecycle-abuse": lifecycle_abuse,
    "low-and-slow": low_and_slow,
    "kms-key-swap": kms_key_swap,
    "tag-tampering": tag_tampering,
    "destructive-overwrite": destructive_overwrite,
    "nightly-lifecycle": nightly_lifecycle,
    "nightly-batch-rewrite": nightly_batch_rewrite,
    "guardduty-rescan": guardduty_rescan,
}
ATTACKS = ("sse-c-ransomware", "lifecycle-abuse", "low-and-slow", "kms-key-swap", "tag-tampering",
           "destructive-overwrite")
TWINS = ("nightly-lifecycle", "nightly-batch-rewrite", "guardduty-rescan")


def check(names: Iterable[str]) -> list[str]:
    """The names in planting order, without repeats; an unknown name is a BadInput listing the known ones."""
    names = list(names)
    unknown = [n for n in names if n not in SCENARIOS]
    if unknown:
        raise BadInput(f"unknown scenario {unknown[0]!r} (known: {', '.join(SCENARIOS)})")
    return [n for n in SCENARIOS if n in names]


# --- planting --------------------------------------------------------------------------------------------

def plant(out: Path, files: dict, counts: dict, names: Iterable[str], seed: int, start: datetime,
          end: datetime) -> tuple[dict, dict, dict]:
    """Add the scenarios to the data set in `out`; return (facts per scenario, files, row counts).

    The scenarios add no annotation event: `counts` keeps its annotation figures.

    The records go into one more journal part; the inventory parts are rewritten with the changes
    replaying those records makes (new versions and markers added, overwritten unversioned objects
    and permanently deleted versions removed, tag changes applied).
    """
    import pyarrow.parquet as pq

    chosen = check(names)
    background = Background.load(out, files, start, end)
    records = Records(background)
    facts = {}
    for name in chosen:
        rng = np.random.default_rng([seed, list(SCENARIOS).index(name), 0x5CE4])
        facts[name] = SCENARIOS[name](background, rng, records)
    rows = sorted(records.rows, key=lambda r: (r["record_timestamp"], r["bucket"], r["key"], r["sequence_number"]))
    journal = pa.Table.from_pylist([_arrow_row(r, schema.JOURNAL) for r in rows], schema=schema.JOURNAL)
    part = f"journal/part-{len(files['journal']):05d}.parquet"
    _write(out / part, journal)
    inventory = _replay(pq.read_table([out / f for f in files["inventory"]]), rows)
    for name in files["inventory"]:
        (out / name).unlink()
    inventory_files = [f"inventory/part-{i:05d}.parquet" for i in range(max(1, -(-inventory.num_rows // 1_000_000)))]
    for i, name in enumerate(inventory_files):
        _write(out / name, inventory.slice(i * 1_000_000, 1_000_000))
    files = {**files, "journal": [*files["journal"], part], "inventory": inventory_files}
    counts = {**counts, "journal": sum(pq.ParquetFile(out / f).metadata.num_rows for f in files["journal"]),
              "inventory": inventory.num_rows}
    return facts, files, counts


def _arrow_row(row: dict, target: pa.Schema) -> dict:
    out = {c: row.get(c) for c in target.names}
    for c in ("object_tags", "user_metadata"):
        if isinstance(out.get(c), dict):
            out[c] = list(out[c].items())
    return out


def _replay(inventory: pa.Table, rows: list[dict]) -> pa.Table:
    """The inventory after the records: each touched version's last record, or nothing once deleted for good."""
    state: dict[tuple, dict | None] = {}
    for r in sorted(rows, key=lambda r: (r["bucket"], r["key"], r["sequence_number"])):
        ident = (r["bucket"], r["key"], r["version_id"])
        permanent = r["record_type"] == "DELETE" and r["is_delete_marker"] is None
        state[ident] = None if permanent else r
    idents = zip(inventory["bucket"].to_pylist(), inventory["key"].to_pylist(), inventory["version_id"].to_pylist(),
                 strict=True)
    keep = pa.array([ident not in state for ident in idents], pa.bool_())
    added = pa.Table.from_pylist([_arrow_row(r, schema.INVENTORY) for r in state.values() if r is not None],
                                 schema=schema.INVENTORY)
    merged = pa.concat_tables([inventory.filter(keep).cast(schema.INVENTORY), added])
    return merged.sort_by([("bucket", "ascending"), ("key", "ascending"), ("sequence_number", "ascending")])


def _write(path: Path, table: pa.Table) -> None:
    import pyarrow.parquet as pq

    tmp = path.with_name(f".{path.name}.tmp")
    pq.write_table(table, tmp, compression="zstd")
    os.replace(tmp, path)


__all__ = ["SCENARIOS", "ATTACKS", "TWINS", "Background", "Records", "check", "plant"]
