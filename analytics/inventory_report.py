"""Classic S3 Inventory reports (CSV, ORC, Parquet) read into the S3 Metadata inventory schema.

A report is found through its manifest (shared/reference/s3-metadata.md, section 5): a local file
or folder, or an s3:// location read with boto3 (which honours AWS_ENDPOINT_URL). A manifest given
by path may have any name; a folder or prefix is searched for `manifest.json` and `*manifest.json`
files (copies sometimes carry a prefix, as `csv_inventory_manifest.json`). Relative paths and `~`
are resolved first. Under a folder that holds several reports, the newest run (`YYYY-MM-DDTHH-MMZ/`)
of each inventory configuration is a candidate, and ONE report per source bucket is read: two
configurations of one bucket (a CSV and a Parquet one, say) list the same objects, and adding them
up would double every count. The report taken is the newest (manifest creationTimestamp); on equal
times the one with more fields, then the configuration ID first in alphabetical order. Chosen
configuration IDs override that rule for their bucket. The choice is narrated in `Reports.notes`,
which the CLI prints; the library never prints.

Every data file is checked against the manifest's size and `MD5checksum` (and the manifest against
its `.checksum` file when present) before it is parsed, so a corrupt or truncated file fails with a
DataError naming the manifest and the file, never a partial answer.

Mapping to the metadata tables' values (the catalog's inventory queries then run unchanged):
- CSV has no header: columns come from `fileSchema`; keys are URL-encoded (form encoding, so `+` is a
  space and a literal plus is %2B) and are decoded.
- `NOT-SSE` becomes NULL encryption_status; checksum spellings lose their hyphens (`SHA-256` ->
  `SHA256`, `CRC64-NVME` -> `CRC64NVME`); `ENABLED`/`DISABLED` bucket key status becomes a boolean;
  `is_multipart_uploaded` becomes `is_multipart`; object lock mode, legal hold and event hold are
  upper-cased.
- A delete marker's size is 0, as in the metadata tables (reports leave it empty).
- A current-versions-only report (no VersionId) lists current objects only: is_latest is true,
  is_delete_marker false, version_id NULL.
- Reports have no tags or user metadata: `object_tags` and `user_metadata` are NULL.
- Reports have no sequence number: `sequence_number` is synthesized as 17 decimal digits of the
  last-modified time in microseconds, then `1` for the latest version or `0`, then the version ID.
  Within one key a later version therefore sorts later, as S3 Metadata's does; the values are not
  S3's and must not be compared with a journal's.

Absent is not NULL: NULL encryption_status means "unencrypted", NULL replication_status "not
replicated", and so on, so a field the report was not configured with must not read as NULL. On
every object row (not delete markers, which have none of these) an absent text field reads
'UNKNOWN'; an absent number, boolean or time reads NULL, and the catalog's sums say NULL (unknown)
when any value in them is. kms_key_arn, which no report has, reads 'UNKNOWN' where the object is
(or may be) KMS-encrypted. `Reports.check` refuses a statement that filters, joins or groups on a
field that no report read has (see `needed_columns`).
"""

from __future__ import annotations

import functools
import gzip
import hashlib
import json
import os
import re
from dataclasses import dataclass, field as _field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterable
from urllib.parse import unquote_plus

import pyarrow as pa
import pyarrow.compute as pc

from .buffers import arrow_copy
from .errors import BadInput, DataError
from .schema import INVENTORY, TIMESTAMP

UNKNOWN = "UNKNOWN"  # what an absent text field reads (never a value AWS writes in these columns)


@dataclass(frozen=True)
class Field:
    """One field an inventory configuration can list."""

    name: str    # AWS's name: the CSV fileSchema's and the configuration's OptionalFields
    column: str  # the ORC/Parquet column name
    kind: str    # string, boolean, bigint or timestamp
    target: str  # our column (the metadata tables' name where one exists)


FIELDS = tuple(Field(*f) for f in (
    ("Bucket", "bucket", "string", "bucket"),
    ("Key", "key", "string", "key"),
    ("VersionId", "version_id", "string", "version_id"),
    ("IsLatest", "is_latest", "boolean", "is_latest"),
    ("IsDeleteMarker", "is_delete_marker", "boolean", "is_delete_marker"),
    ("Size", "size", "bigint", "size"),
    ("LastModifiedDate", "last_modified_date", "timestamp", "last_modified_date"),
    ("ETag", "e_tag", "string", "e_tag"),
    ("StorageClass", "storage_class", "string", "storage_class"),
    ("IsMultipartUploaded", "is_multipart_uploaded", "boolean", "is_multipart"),
    ("ReplicationStatus", "replication_status", "string", "replication_status"),
    ("EncryptionStatus", "encryption_status", "string", "encryption_status"),
    ("ObjectLockRetainUntilDate", "object_lock_retain_until_date", "timestamp", "object_lock_retain_until_date"),
    ("ObjectLockMode", "object_lock_mode", "string", "object_lock_mode"),
    ("ObjectLockLegalHoldStatus", "object_lock_legal_hold_status", "string", "object_lock_legal_hold_status"),
    # ON/OFF, and how long the object stays locked once the hold is released (a number of days or
    # years, as the configuration's duration was given; AWS has not documented the report's form).
    ("ObjectLockEventHoldStatus", "object_lock_event_hold_status", "string", "object_lock_event_hold_status"),
    ("ObjectLockEventHoldDuration", "object_lock_event_hold_duration", "bigint", "object_lock_event_hold_duration"),
    ("IntelligentTieringAccessTier", "intelligent_tiering_access_tier", "string", "intelligent_tiering_access_tier"),
    ("BucketKeyStatus", "bucket_key_status", "string", "is_bucket_key_enabled"),
    ("ChecksumAlgorithm", "checksum_algorithm", "string", "checksum_algorithm"),
    ("ObjectAccessControlList", "object_access_control_list", "string", "object_access_control_list"),
    ("ObjectOwner", "object_owner", "string", "object_owner"),
    ("LifecycleExpirationDate", "lifecycle_expiration_date", "timestamp", "lifecycle_expiration_date"),
    ("IntelligentTieringReferenceDate", "intelligent_tiering_reference_date", "timestamp",
     "intelligent_tiering_reference_date"),
))
BY_NAME = {f.name: f for f in FIELDS}
BY_COLUMN = {f.column: f for f in FIELDS}
# The fields a configuration chooses (botocore's InventoryOptionalField, s3 2006-03-01 model of
# botocore 1.44; tests/test_inventory_report_fields.py fails when the installed model lists another).
# Bucket and Key are always there; VersionId, IsLatest and IsDeleteMarker come with "all versions".
OPTIONAL = tuple(f.name for f in FIELDS[5:])
# Inventory columns no report carries: a statement that needs one cannot be answered from reports.
NEVER_IN_REPORTS = ("kms_key_arn", "object_tags", "user_metadata")
_KMS = ("SSE-KMS", "DSSE-KMS")

_TYPES = {"string": pa.string(), "boolean": pa.bool_(), "bigint": pa.int64(), "timestamp": TIMESTAMP}
# The extra columns a report carries beyond the metadata inventory's 16.
EXTRA = pa.schema([pa.field(f.target, _TYPES[f.kind]) for f in FIELDS if f.target not in INVENTORY.names])
# The `inventory_report` table: the inventory's columns, then the report's extras (then, when a report
# has fields s3meta does not know, one text column for each).
REPORT = pa.schema(list(INVENTORY) + list(EXTRA))
# The `inventory_reports` table: one row per report read, with the fields it was configured with.
REPORTS = pa.schema([
    pa.field("source_bucket", pa.string()), pa.field("configuration_id", pa.string()),
    pa.field("file_format", pa.string()), pa.field("included_versions", pa.string()),
    pa.field("creation_time", TIMESTAMP), pa.field("manifest", pa.string()),
    pa.field("fields", pa.list_(pa.string())), pa.field("row_count", pa.int64()),
])

# CSV fileSchema names -> ORC/Parquet column names (AWS's two spellings of one field list).
CSV_NAMES = {f.name: f.column for f in FIELDS}
FORMATS = {"CSV": ".csv.gz", "ORC": ".orc", "Parquet": ".parquet"}
_RUN = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}-\d{2}Z$")  # a run folder: YYYY-MM-DDTHH-MMZ
_MANIFEST_NAME = re.compile(r"(^|[_.-])manifest\.json$")


@dataclass
class Manifest:
    """One report run: where its manifest is, and what it lists."""

    location: str
    source_bucket: str
    destination_bucket: str
    file_format: str
    columns: list[str]  # data columns in fileSchema order: ORC/Parquet names, unknown fields snake_case
    fields: list[str]   # the same, as AWS names them (an unknown field as the manifest writes it)
    files: list[dict[str, Any]]
    creation_timestamp: str | None
    configuration: str = ""  # the inventory configuration's ID (or, outside AWS's layout, the file's)
    run: str | None = None   # the run folder, YYYY-MM-DDTHH-MMZ, when the manifest sits in one

    @property
    def unknown(self) -> list[tuple[str, str]]:
        """(field, column) of each field s3meta does not know."""
        return [(f, c) for f, c in zip(self.fields, self.columns, strict=True) if f not in BY_NAME]

    @property
    def created(self) -> datetime | None:
        """When AWS wrote the report: creationTimestamp (epoch ms), else the run folder's time."""
        if self.creation_timestamp and str(self.creation_timestamp).isdigit():
            return datetime.fromtimestamp(int(self.creation_timestamp) / 1000, timezone.utc).replace(tzinfo=None)
        if self.run:
            return datetime.strptime(self.run, "%Y-%m-%dT%H-%MZ")
        return None

    @property
    def versions(self) -> str:
        return "All" if "VersionId" in self.fields else "Current"

    def describe(self) -> str:
        when = self.created.strftime("%Y-%m-%dT%H:%MZ") if self.created else "no creation time"
        return f"{self.configuration!r} ({self.file_format}, {when}, {len(self.fields)} fields)"


# --- finding and fetching -----------------------------------------------------------------------

class _Source:
    """Bytes by location: local paths, or s3:// through boto3."""

    def __init__(self) -> None:
        self._s3: Any = None

    def s3(self) -> Any:
        if self._s3 is None:
            import boto3  # only when a report is on S3: `import analytics` stays light
            self._s3 = boto3.client("s3")
        return self._s3

    def read(self, location: str, missing_ok: bool = False) -> bytes | None:
        """The bytes at `location`; None when it does not exist and `missing_ok`."""
        if location.startswith("s3://"):
            bucket, _, key = location[5:].partition("/")
            try:
                return self.s3().get_object(Bucket=bucket, Key=key)["Body"].read()
            except Exception as exc:  # botocore's errors: one line, naming the object
                code = getattr(exc, "response", {}).get("Error", {}).get("Code")
                if missing_ok and code in ("NoSuchKey", "NoSuchBucket", "404", "NotFound"):
                    return None
                raise DataError(f"cannot read {location}: {_first_line(exc)}") from exc
        try:
            return Path(location).read_bytes()
        except FileNotFoundError:
            if missing_ok:
                return None
            raise DataError(f"cannot read {location}: no such file") from None
        except OSError as exc:
            raise DataError(f"cannot read {location}: {exc.strerror or exc}") from exc

    def manifests(self, location: str) -> list[str]:
        """Every manifest under `location`: a manifest itself (any name), a run folder, or any prefix above."""
        if location.startswith("s3://"):
            bucket, _, prefix = location[5:].partition("/")
            if not bucket:
                raise BadInput(f"not an s3:// location: {location!r} (expected s3://BUCKET/PREFIX)")
            if prefix.endswith(".json"):
                return [location]
            if prefix and not prefix.endswith("/"):
                prefix += "/"
            found = []
            try:
                for page in self.s3().get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
                    found += [f"s3://{bucket}/{o['Key']}" for o in page.get("Contents", [])
                              if _MANIFEST_NAME.search(o["Key"].rsplit("/", 1)[-1])]
            except Exception as exc:
                raise DataError(f"cannot list {location}: {_first_line(exc)}") from exc
            return sorted(found)
        # Relative to the working directory, `~` expanded: the folder names found below are absolute,
        # so a run folder and its configuration are recognized whatever was typed.
        path = Path(os.path.abspath(os.path.expanduser(location)))
        if path.is_file():
            return [str(path)]
        if not path.is_dir():
            raise DataError(f"inventory report not found: {location}")
        return sorted(str(p) for p in path.rglob("*manifest.json") if p.is_file() and _MANIFEST_NAME.search(p.name))


def locate(location: str, source: _Source | None = None) -> list[str]:
    """The manifests under `location` worth reading: the newest run of each inventory configuration."""
    source = source or _Source()
    newest: dict[str, tuple[str, str]] = {}
    for manifest in source.manifests(location):
        parts = manifest.split("/")
        if "hive" in parts[-3:-1]:  # AWS's hive/dt=.../ folders hold symlinks, never a report
            continue
        _, run = _identity(manifest)
        # A manifest outside AWS's layout (no run folder above it) stands alone.
        config = "/".join(parts[:-2]) if run else manifest
        if config not in newest or (run or "") > newest[config][0]:
            newest[config] = (run or "", manifest)
    if not newest:
        raise DataError(f"no inventory report under {location}: expected a manifest.json "
                        "(or a file named *manifest.json)")
    return sorted(m for _, m in newest.values())


def _identity(location: str) -> tuple[str, str | None]:
    """(configuration ID, run folder or None) of a manifest, from where it sits.

    AWS writes DEST/PREFIX/SOURCE-BUCKET/CONFIG-ID/YYYY-MM-DDTHH-MMZ/manifest.json. A manifest
    elsewhere is its own configuration, named by its file (`csv_inventory_manifest.json` ->
    `csv_inventory`) or, when the file is plainly manifest.json, by its folder.
    """
    parts = location.rstrip("/").split("/")
    name, folder = parts[-1], parts[-2] if len(parts) > 1 else ""
    if _RUN.match(folder) and len(parts) > 2 and parts[-3]:
        return parts[-3], folder
    stem = _MANIFEST_NAME.sub("", name) if _MANIFEST_NAME.search(name) else name.removesuffix(".json")
    return stem or folder or name, None


def _checksum_location(location: str) -> str:
    if location.endswith("manifest.json"):
        return location[: -len("manifest.json")] + "manifest.checksum"
    return location.removesuffix(".json") + ".checksum"


def fetch_manifest(location: str, source: _Source | None = None) -> Manifest:
    """The manifest at `location`, checked against its .checksum file when there is one."""
    source = source or _Source()
    data = source.read(location)
    assert data is not None
    checksum_location = _checksum_location(location)
    try:
        checksum = source.read(checksum_location, missing_ok=True)
    except DataError as exc:
        raise DataError(f"{location}: {exc}") from exc
    if checksum is not None:
        expected = checksum.decode("ascii", "replace").strip().split()[0:1]
        if expected and expected[0].lower() != hashlib.md5(data).hexdigest():
            raise DataError(f"{location}: MD5 does not match {checksum_location.rsplit('/', 1)[-1]} "
                            "(corrupt or modified manifest)")
    return parse_manifest(location, data)


def parse_manifest(location: str, data: bytes) -> Manifest:
    try:
        doc = json.loads(data)
        file_format = doc["fileFormat"]
        schema_text = doc["fileSchema"]
        files = list(doc["files"])
    except (ValueError, KeyError, TypeError) as exc:
        raise DataError(f"{location}: not an S3 Inventory manifest ({_first_line(exc)})") from exc
    if file_format not in FORMATS:
        raise DataError(f"{location}: unknown fileFormat {file_format!r} (expected CSV, ORC or Parquet)")
    fields = schema_fields(file_format, str(schema_text))
    if not fields:
        raise DataError(f"{location}: fileSchema lists no field s3meta can read: {str(schema_text)[:80]!r}")
    configuration, run = _identity(location)
    return Manifest(location, str(doc.get("sourceBucket", "")), str(doc.get("destinationBucket", "")), file_format,
                    [c for _, c in fields], [f for f, _ in fields], files, doc.get("creationTimestamp"),
                    configuration, run)


def schema_fields(file_format: str, text: str) -> list[tuple[str, str]]:
    """(field, column) pairs, in order, from a manifest's fileSchema (any of the three forms).

    A field s3meta does not know keeps its name, and its column is that name in snake_case.
    """
    if file_format == "CSV":
        names = [n.strip() for n in text.split(",") if n.strip()]
        return [(n, CSV_NAMES.get(n) or _column_name(n)) for n in names]
    if file_format == "ORC":
        columns = re.findall(r"(?:<|,)\s*(\w+)\s*:", text)
    else:  # Parquet's message schema: "required binary bucket (STRING);"
        columns = re.findall(r"(?:required|optional|repeated)\s+\w+\s+(\w+)", text)
    return [(BY_COLUMN[c].name, c) if c in BY_COLUMN else (c, _column_name(c)) for c in columns]


def _column_name(field: str) -> str:
    """A column for a field s3meta does not know: snake_case, never one of the tables' own names."""
    name = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", field).lower()
    name = re.sub(r"[^a-z0-9_]+", "_", name).strip("_") or "field"
    if name[0].isdigit():
        name = "field_" + name
    return name + "_field" if name in REPORT.names else name


# --- one report per source bucket ---------------------------------------------------------------

def choose(manifests: list[Manifest], configurations: Iterable[str] | None = None,
           where: str = "") -> tuple[list[Manifest], list[str]]:
    """The reports to read, one per source bucket unless chosen by configuration ID, and why (notes)."""
    wanted = list(dict.fromkeys(configurations or ()))
    known = sorted({m.configuration for m in manifests})
    missing = [c for c in wanted if c not in known]
    if missing:
        raise BadInput(f"no inventory configuration {missing[0]!r} under {where or 'the report locations'} "
                       f"(found: {', '.join(known) or 'none'})")
    by_bucket: dict[str, list[Manifest]] = {}
    for m in manifests:
        by_bucket.setdefault(m.source_bucket, []).append(m)
    chosen: list[Manifest] = []
    notes: list[str] = []
    for bucket, group in sorted(by_bucket.items()):
        group.sort(key=_rank)
        picked = [next(m for m in group if m.configuration == c) for c in wanted
                  if any(m.configuration == c for m in group)]
        by_choice = bool(picked)
        picked = picked or group[:1]
        chosen += picked
        skipped = [m for m in group if m not in picked]
        if len(picked) > 1:
            notes.append(f"bucket {bucket!r}: read inventory configurations "
                         f"{', '.join(m.describe() for m in picked)}, as chosen: their rows add up, so choose "
                         "configurations that list different prefixes")
        if skipped:
            why = "as chosen" if by_choice else "the newest (on a tie: most fields, then first ID)"
            notes.append(f"bucket {bucket!r}: read inventory configuration "
                         f"{', '.join(m.describe() for m in picked)}, {why}; skipped "
                         f"{', '.join(m.describe() for m in skipped)}; choose one with --inventory-config ID")
    return chosen, notes


def _rank(m: Manifest) -> tuple:
    """Best first: newest creation time, then most fields, then configuration ID, then location."""
    created = m.created.replace(tzinfo=timezone.utc).timestamp() if m.created else float("-inf")
    return (-created, -len(m.fields), m.configuration, m.location)


# --- reading ------------------------------------------------------------------------------------

@dataclass
class Reports:
    """The reports read: the `inventory_report` table, each report's manifest, and notes to narrate."""

    table: pa.Table
    manifests: list[Manifest]
    row_counts: list[int]
    notes: list[str] = _field(default_factory=list)

    def summary(self) -> pa.Table:
        """The `inventory_reports` table: one row per report, with the fields it was configured with."""
        rows = [{"source_bucket": m.source_bucket, "configuration_id": m.configuration, "file_format": m.file_format,
                 "included_versions": m.versions, "creation_time": m.created, "manifest": m.location,
                 "fields": list(m.fields), "row_count": n}
                for m, n in zip(self.manifests, self.row_counts, strict=True)]
        return pa.Table.from_pylist(rows, schema=REPORTS)

    @functools.cached_property
    def absent(self) -> dict[str, Field | None]:
        """Columns that no report read has: column -> its field (None: no report ever has it)."""
        absent: dict[str, Field | None] = dict.fromkeys(NEVER_IN_REPORTS)
        for column, f in _OPTIONAL_TARGETS.items():
            if all(f.name not in m.fields for m in self.manifests):
                absent[column] = f
        return absent

    def check(self, sql: str) -> None:
        """DataError when `sql` filters, joins or groups on a field that no report read has."""
        if not self.absent.keys() & set(re.findall(r"\w+", sql.lower())):
            return  # no such column named at all: no need to parse the statement
        for _, column in sorted(needed_columns(sql)):
            if column not in self.absent:
                continue
            f = self.absent[column]
            if f is None:
                raise DataError(f"the query needs {column}, which S3 Inventory reports do not have "
                                f"({_configurations(self.manifests)}): query the S3 Metadata inventory table "
                                "for it (--data or --engine athena)")
            raise DataError(f"the query needs {f.name} ({column}), which no inventory report read has: "
                            f"{_configurations(self.manifests)} {'was' if len(self.manifests) == 1 else 'were'} "
                            "configured without it")


_OPTIONAL_TARGETS = {f.target: f for f in FIELDS if f.name in OPTIONAL}


def _configurations(manifests: list[Manifest]) -> str:
    shown = [f"configuration {m.configuration!r} of bucket {m.source_bucket!r}" for m in manifests[:3]]
    more = f" and {len(manifests) - 3} more" if len(manifests) > 3 else ""
    return ", ".join(shown) + more


def load(locations: str | os.PathLike | Iterable[str | os.PathLike],
         configurations: Iterable[str] | None = None) -> Reports:
    """The reports under `locations`: one per source bucket (see the module's docstring), read."""
    if isinstance(locations, (str, os.PathLike)):
        locations = [locations]
    where = [os.fspath(loc) for loc in locations]
    source = _Source()
    candidates = list(dict.fromkeys(m for loc in where for m in locate(loc, source)))
    manifests, notes = choose([fetch_manifest(m, source) for m in candidates], configurations, ", ".join(where))
    tables = [read_manifest(m, source) for m in manifests]
    seen: set[str] = set()
    for m in manifests:
        for name, column in m.unknown:
            if name not in seen:
                seen.add(name)
                notes.append(f"warning: {m.location}: field {name!r} is not one s3meta knows; "
                             f"kept as text column {column} of inventory_report")
    table = pa.concat_tables(tables, promote_options="default") if tables else REPORT.empty_table()
    return Reports(table, manifests, [t.num_rows for t in tables], notes)


def read(locations: str | os.PathLike | Iterable[str | os.PathLike],
         configurations: Iterable[str] | None = None) -> pa.Table:
    """The `inventory_report` table (REPORT schema, then any unknown fields) of the reports under `locations`."""
    return load(locations, configurations).table


def inventory(report: pa.Table) -> pa.Table:
    """The 17 columns of the metadata inventory, from an `inventory_report` table (object_join_key NULL)."""
    return report.select(INVENTORY.names).cast(INVENTORY)


def read_manifest(manifest: Manifest | str, source: _Source | None = None) -> pa.Table:
    """One report's rows; every error names its manifest."""
    source = source or _Source()
    if isinstance(manifest, str):
        manifest = fetch_manifest(manifest, source)
    parts = [_read_file(manifest, entry, source) for entry in manifest.files]
    if not parts:
        return normalize(pa.table({c: pa.array([], pa.string()) for c in manifest.columns}), manifest)
    return pa.concat_tables(parts)


def _data_candidates(manifest: Manifest, key: str) -> list[str]:
    """Where a data file may be: the key is relative to the destination bucket, whose copy may sit at
    any folder above the manifest, or have been synced from a prefix of it (so the key's tails too)."""
    parts = key.split("/")
    if any(p in (".", "..") for p in parts) or not key:
        raise DataError(f"{manifest.location}: refused data file key {key!r} (empty, or holds . or ..)")
    parts = [p for p in parts if p]
    if manifest.location.startswith("s3://"):
        bucket, _, manifest_key = manifest.location[5:].partition("/")
        folders = manifest_key.split("/")[:-1]
        destination = manifest.destination_bucket.rsplit(":", 1)[-1]
        found = [f"s3://{bucket}/{key}"]
        for start in range(len(parts)):
            tail, levels = "/".join(parts[start:]), len(parts) - start
            for depth in range(len(folders), max(len(folders) - levels, 0) - 1, -1):
                found.append(f"s3://{bucket}/" + "".join(f + "/" for f in folders[:depth]) + tail)
        # Last, the bucket AWS delivered to, when the copy read is elsewhere.
        return list(dict.fromkeys(found + ([f"s3://{destination}/{key}"] if destination else [])))
    here = Path(manifest.location).parent
    found = []
    for start in range(len(parts)):
        tail = Path(*parts[start:])
        # No higher than the key is deep: a key cannot reach above the destination bucket.
        for folder in (here, *here.parents)[: len(parts) - start + 1]:
            found.append(str(folder / tail))
    return list(dict.fromkeys(found))


def _read_file(manifest: Manifest, entry: dict[str, Any], source: _Source) -> pa.Table:
    key = str(entry.get("key", ""))
    data, where = None, ""
    try:
        for where in _data_candidates(manifest, key):
            data = source.read(where, missing_ok=True)
            if data is not None:
                break
    except DataError as exc:  # denied, or the network: still one line naming the manifest
        raise DataError(f"{manifest.location}: {exc}") from exc
    if data is None:
        raise DataError(f"{manifest.location}: inventory report file {key} not found (looked beside and above "
                        "the manifest)")
    size = entry.get("size")
    if size is not None and int(size) != len(data):
        raise DataError(f"{manifest.location}: inventory report file {where}: {len(data)} bytes, the manifest "
                        f"says {size} (truncated or corrupt)")
    expected = str(entry.get("MD5checksum", "")).lower()
    if expected and hashlib.md5(data).hexdigest() != expected:
        raise DataError(f"{manifest.location}: inventory report file {where}: MD5 does not match the "
                        f"manifest's {expected} (corrupt or modified)")
    try:
        if manifest.file_format == "CSV":
            raw = _read_csv(data, manifest.columns)
        elif manifest.file_format == "ORC":
            import pyarrow.orc as orc
            raw = orc.ORCFile(arrow_copy(data)).read()
        else:
            import pyarrow.parquet as pq
            raw = pq.read_table(arrow_copy(data))  # Arrow memory: see analytics/buffers.py
        return normalize(raw, manifest)
    except DataError as exc:
        raise DataError(f"{manifest.location}: inventory report file {where}: {exc}") from exc
    except (pa.ArrowException, OSError, EOFError, ValueError) as exc:
        raise DataError(f"{manifest.location}: inventory report file {where} is unreadable: "
                        f"{_first_line(exc)}") from exc


def _read_csv(data: bytes, columns: list[str]) -> pa.Table:
    import pyarrow.csv as pacsv

    text = gzip.decompress(data)  # raises on a truncated or corrupt gzip stream
    return pacsv.read_csv(
        arrow_copy(text),  # Arrow memory: see analytics/buffers.py
        read_options=pacsv.ReadOptions(column_names=columns),
        parse_options=pacsv.ParseOptions(newlines_in_values=True),
        convert_options=pacsv.ConvertOptions(column_types={c: pa.string() for c in columns},
                                             strings_can_be_null=True, null_values=[""]),
    )


def normalize(raw: pa.Table, manifest: Manifest) -> pa.Table:
    """A report's columns, as read, mapped to the REPORT schema and the metadata tables' values."""
    csv = manifest.file_format == "CSV"
    n = raw.num_rows
    columns = {name.lower(): raw.column(name) for name in raw.column_names}
    lacking = [c for c in manifest.columns if c not in columns]
    if lacking:
        raise DataError(f"no {lacking[0]} column, though the manifest's fileSchema lists it")
    have = {c: columns[c] for c in manifest.columns}  # what the configuration lists, nothing else
    missing = [c for c in ("bucket", "key") if c not in have]
    if missing:
        raise DataError(f"no {missing[0]} column")
    configured = set(manifest.fields)

    texts: dict[str, Any] = {}

    def text(name: str) -> pa.ChunkedArray | None:
        if name not in have:
            return None
        if name not in texts:
            column = have[name]
            if not pa.types.is_string(column.type) and not pa.types.is_large_string(column.type):
                column = _as_text(column)
            # Empty text is "no value" in every format.
            texts[name] = pc.if_else(pc.equal(column, ""), pa.scalar(None, pa.string()), column)
        return texts[name]

    def typed(f: Field) -> Any:
        if f.column not in have:
            return None
        column = have[f.column]
        try:
            if f.kind == "boolean":
                return column if pa.types.is_boolean(column.type) else pc.equal(pc.utf8_lower(text(f.column)), "true")
            if f.kind == "bigint":
                return pc.cast(text(f.column) if csv or not pa.types.is_integer(column.type) else column, pa.int64())
            return _timestamp(column, text(f.column) if csv or pa.types.is_string(column.type) else None)
        except pa.ArrowInvalid as exc:
            raise DataError(f"field {f.name}: {_first_line(exc)}") from exc

    out: dict[str, Any] = {}
    for f in FIELDS:
        out[f.target] = typed(f) if f.kind != "string" else text(f.column)
    if csv and out["key"] is not None:
        out["key"] = pa.array([None if k is None else unquote_plus(k) for k in out["key"].to_pylist()], pa.string())
    if out["encryption_status"] is not None:
        status = out["encryption_status"]
        out["encryption_status"] = pc.if_else(pc.equal(status, "NOT-SSE"), pa.scalar(None, pa.string()), status)
    if out["checksum_algorithm"] is not None:
        out["checksum_algorithm"] = pc.replace_substring(pc.utf8_upper(out["checksum_algorithm"]), "-", "")
    if out["is_bucket_key_enabled"] is not None:
        out["is_bucket_key_enabled"] = pc.equal(pc.utf8_upper(out["is_bucket_key_enabled"]), "ENABLED")
    for name in ("object_lock_mode", "object_lock_legal_hold_status", "object_lock_event_hold_status"):
        if out[name] is not None:
            out[name] = pc.utf8_upper(out[name])
    if "VersionId" not in configured:
        # A current-versions-only report lists the current version of each live object, never a
        # delete marker (AWS adds IsLatest and IsDeleteMarker to all-versions reports only).
        out["is_latest"] = pa.array([True] * n) if out["is_latest"] is None else out["is_latest"]
        out["is_delete_marker"] = pa.array([False] * n) if out["is_delete_marker"] is None else out["is_delete_marker"]
    marker = pc.fill_null(out["is_delete_marker"], False) if out["is_delete_marker"] is not None else \
        pa.array([False] * n)
    # S3 Metadata gives a delete marker size 0; a report leaves it empty.
    size = out["size"] if out["size"] is not None else pa.nulls(n, pa.int64())
    out["size"] = pc.if_else(pc.and_(marker, pc.is_null(size)), pa.scalar(0, pa.int64()), size)
    _mark_unknown(out, configured, pc.invert(marker), n)
    out["sequence_number"] = _sequence_numbers(out["last_modified_date"], out["is_latest"], out["version_id"], n)
    arrays = []
    for f in REPORT:
        value = out.get(f.name)
        if value is None:
            arrays.append(pa.nulls(n, f.type))
        else:
            arrays.append(pc.cast(value, f.type) if value.type != f.type else value)
    if out["bucket"].null_count or out["key"].null_count:
        raise DataError("a row has no bucket or key")
    unknown = manifest.unknown
    return pa.Table.from_arrays(arrays + [text(column) or pa.nulls(n, pa.string()) for _, column in unknown],
                                names=REPORT.names + [column for _, column in unknown])


def _mark_unknown(out: dict[str, Any], configured: set[str], live: Any, n: int) -> None:
    """Absent is not NULL: on object rows, a text field the report lacks reads 'UNKNOWN' (module docstring)."""
    unknown = pa.scalar(UNKNOWN, pa.string())
    nothing = pa.scalar(None, pa.string())
    for f in FIELDS:
        if f.name in OPTIONAL and f.name not in configured and REPORT.field(f.target).type == pa.string():
            out[f.target] = pc.if_else(live, unknown, nothing)
    # No report has the KMS key ARN; it is unknown only where the object is or may be KMS-encrypted.
    kms = pc.fill_null(pc.is_in(out["encryption_status"], pa.array([*_KMS, UNKNOWN])), False) \
        if out["encryption_status"] is not None else pa.array([True] * n)
    out["kms_key_arn"] = pc.if_else(pc.and_(live, kms), unknown, nothing)


def _as_text(column: pa.ChunkedArray) -> pa.ChunkedArray | pa.Array:
    try:
        return pc.cast(column, pa.string())
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):  # nested values: their Python form
        return pa.array([None if v is None else str(v) for v in column.to_pylist()], pa.string())


def _timestamp(column: pa.ChunkedArray, text: pa.ChunkedArray | None) -> pa.ChunkedArray:
    if text is not None:
        # CSV writes ISO 8601 with a Z (2025-11-20T09:00:00.000Z); a bare date is midnight UTC.
        # Parsed as UTC (an offset, if any, honoured), kept naive UTC.
        text = pc.replace_substring_regex(text, r"^(\d{4}-\d{2}-\d{2})$", r"\1T00:00:00Z")
        return pc.cast(pc.cast(text, pa.timestamp("us", tz="UTC")), TIMESTAMP)
    if pa.types.is_integer(column.type):  # the older DDL's bigint: epoch milliseconds
        return pc.cast(pc.cast(column, pa.int64()).cast(pa.timestamp("ms")), TIMESTAMP)
    if pa.types.is_timestamp(column.type) and column.type.tz is not None:
        return pc.cast(column, pa.timestamp(column.type.unit, tz="UTC")).cast(TIMESTAMP)
    return pc.cast(column, TIMESTAMP)


def _sequence_numbers(modified: pa.ChunkedArray | None, latest: Any, version: pa.ChunkedArray | None,
                      n: int) -> pa.Array:
    """Deterministic stand-ins: last-modified microseconds (17 digits), latest flag, version ID."""
    times = [0] * n if modified is None else pc.fill_null(pc.cast(modified, pa.int64()), 0).to_pylist()
    flags = [None] * n if latest is None else latest.to_pylist()
    versions = [None] * n if version is None else version.to_pylist()
    rows = zip(times, flags, versions, strict=True)
    return pa.array([f"{max(t, 0):017d}{1 if f else 0}{v or ''}" for t, f, v in rows], pa.string())


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


# --- which fields a statement needs -------------------------------------------------------------------

# Clauses whose columns decide which rows or groups a statement returns. A column that is only
# returned (or only orders rows) may be unknown, and says so; one that filters, joins or groups may not.
_DECIDING_CLAUSES = ("where", "group", "having", "qualify")
_DECIDING_ARGS = {"Join": ("on", "using"), "Window": ("partition_by", "order")}


@functools.lru_cache(maxsize=256)
def needed_columns(sql: str, dialect: str = "duckdb") -> frozenset[tuple[str, str]]:
    """(table, column) of `inventory` and `inventory_report` that `sql` filters, joins or groups on.

    Found with sqlglot's scopes, so a column is traced through CTEs and subqueries to the table it
    comes from (a journal column of the same name does not count), and no query file needs a
    declaration that could drift from its SQL. Stars are not expanded: `SELECT *` needs nothing. SQL
    sqlglot cannot parse needs nothing here; the engine reports its own error for it.
    """
    import sqlglot
    from sqlglot import exp
    from sqlglot.errors import SqlglotError
    from sqlglot.optimizer.qualify import qualify
    from sqlglot.optimizer.scope import Scope, traverse_scope

    from .schema import JOURNAL

    tables = {"journal": JOURNAL, "inventory": INVENTORY, "inventory_report": REPORT, "inventory_reports": REPORTS}
    schema = {name: {c: "VARCHAR" for c in s.names} for name, s in tables.items()}
    try:
        tree = qualify(sqlglot.parse_one(sql, read=dialect), schema=schema, dialect=dialect, expand_stars=False,
                       validate_qualify_columns=False)
        scopes = traverse_scope(tree)
    except SqlglotError:
        return frozenset()
    found: set[tuple[str, str]] = set()

    def trace(scope: Scope, table: str, column: str) -> None:
        source = scope.sources.get(table)
        if isinstance(source, exp.Table):
            if source.name in ("inventory", "inventory_report"):
                found.add((source.name, column))
        elif isinstance(source, Scope):  # a CTE or derived table: the columns its projection reads
            for projection in source.expression.selects:
                if projection.alias_or_name == column:
                    for c in projection.find_all(exp.Column):
                        trace(source, c.table, c.name)

    for scope in scopes:
        for column in scope.columns:
            if scope.is_subquery or _deciding(column, scope.expression):
                trace(scope, column.table, column.name)
    return frozenset(found)


def _deciding(column: Any, top: Any) -> bool:
    """Whether `column` sits in a clause of `top` (its SELECT) that decides rows or groups."""
    node = column
    while node is not None and node is not top and node.parent is not None:
        if node.arg_key in _DECIDING_CLAUSES or node.arg_key in _DECIDING_ARGS.get(type(node.parent).__name__, ()):
            return True
        node = node.parent
    return False


# --- Athena DDL -------------------------------------------------------------------------------------

# AWS's documented table (s3-metadata.md, section 5.4), with partition projection over dt.
_DDL_COLUMNS = (
    ("bucket", "string"), ("key", "string"), ("version_id", "string"), ("is_latest", "boolean"),
    ("is_delete_marker", "boolean"), ("size", "bigint"), ("last_modified_date", "timestamp"),
    ("e_tag", "string"), ("storage_class", "string"), ("is_multipart_uploaded", "boolean"),
    ("replication_status", "string"), ("encryption_status", "string"),
    ("object_lock_retain_until_date", "timestamp"), ("object_lock_mode", "string"),
    ("object_lock_legal_hold_status", "string"), ("intelligent_tiering_access_tier", "string"),
    ("bucket_key_status", "string"), ("checksum_algorithm", "string"),
    ("object_access_control_list", "string"), ("object_owner", "string"),
    ("lifecycle_expiration_date", "timestamp"),
    # Newer fields, last: ORC and Parquet match columns by name; CSV (by position) gets NULLs when absent.
    ("object_lock_event_hold_status", "string"), ("object_lock_event_hold_duration", "bigint"),
    ("intelligent_tiering_reference_date", "timestamp"),
)
_SERDES = {
    "orc": "org.apache.hadoop.hive.ql.io.orc.OrcSerde",
    "parquet": "org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe",
    "csv": "org.apache.hadoop.hive.serde2.OpenCSVSerde",
}
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def athena_ddl(location: str, file_format: str = "parquet", table: str = "s3_inventory_report",
               view: str = "inventory_report") -> str:
    """CREATE EXTERNAL TABLE for a classic report (partition projection on dt), and a view of its newest run.

    `location` is the inventory configuration's folder or its hive/ folder. The view is what the
    catalog's inventory-report queries read, so they run in Athena unchanged. ORC and Parquet declare
    the timestamps as timestamp, as the manifest's fileSchema does (AWS's DDL page says bigint for
    object_lock_retain_until_date; the files say timestamp). CSV declares every non-boolean column
    string, as AWS's page does: use ORC or Parquet for the catalog's queries, which sum sizes.
    """
    file_format = file_format.lower()
    if file_format not in _SERDES:
        raise BadInput(f"unknown format {file_format!r} (expected parquet, orc or csv)")
    if not location.startswith("s3://") or not _SAFE_S3.match(location):
        raise BadInput(f"--location must be an s3:// folder without quotes or spaces, got {location!r}")
    for name in (table, view):
        if not _NAME.match(name):
            raise BadInput(f"table name {name!r}: use letters, digits and underscores")
    location = location.rstrip("/") + "/"
    if not location.endswith("/hive/"):
        location += "hive/"
    columns = ",\n".join(
        f"  `{name}` {'string' if file_format == 'csv' and kind not in ('boolean',) else kind}"
        for name, kind in _DDL_COLUMNS)
    return (
        f"CREATE EXTERNAL TABLE {table} (\n{columns}\n)\n"
        "PARTITIONED BY (dt string)\n"
        f"ROW FORMAT SERDE '{_SERDES[file_format]}'\n"
        "STORED AS INPUTFORMAT 'org.apache.hadoop.hive.ql.io.SymlinkTextInputFormat'\n"
        "OUTPUTFORMAT 'org.apache.hadoop.hive.ql.io.IgnoreKeyTextOutputFormat'\n"
        f"LOCATION '{location}'\n"
        "TBLPROPERTIES (\n"
        "  'projection.enabled' = 'true',\n"
        "  'projection.dt.type' = 'date',\n"
        "  'projection.dt.format' = 'yyyy-MM-dd-HH-mm',\n"
        "  'projection.dt.range' = '2022-01-01-00-00,NOW',\n"
        "  'projection.dt.interval' = '1',\n"
        "  'projection.dt.interval.unit' = 'HOURS'\n"
        ");\n\n"
        f"-- The newest run only: each dt partition is a whole report, so runs must not be added up.\n"
        f"CREATE OR REPLACE VIEW {view} AS\n"
        f"SELECT * FROM {table}\n"
        f"WHERE dt = (SELECT max(dt) FROM {table});\n"
    )


_SAFE_S3 = re.compile(r"^s3://[a-z0-9][a-z0-9.\-]{1,61}[a-z0-9](/[^'\s\\]*)?$")
