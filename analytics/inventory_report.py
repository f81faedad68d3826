"""Classic S3 Inventory reports (CSV, ORC, Parquet) read into the S3 Metadata inventory schema.

A report is found through its `manifest.json` (shared/reference/s3-metadata.md, section 5): a local
file or folder, or an s3:// location read with boto3 (which honours AWS_ENDPOINT_URL). A folder or
prefix that holds several reports (one per source bucket, one dated folder per run) gives the newest
run of each inventory configuration. Every data file is checked against the manifest's size and
`MD5checksum` (and manifest.json against `manifest.checksum` when present) before it is parsed, so a
corrupt or truncated file fails with a DataError naming it, never a partial answer.

Mapping to the metadata tables' values (the catalog's inventory queries then run unchanged):
- CSV has no header: columns come from `fileSchema`; keys are URL-encoded (form encoding, so `+` is a
  space and a literal plus is %2B) and are decoded.
- `NOT-SSE` becomes NULL encryption_status; checksum spellings lose their hyphens (`SHA-256` ->
  `SHA256`, `CRC64-NVME` -> `CRC64NVME`); `ENABLED`/`DISABLED` bucket key status becomes a boolean;
  `is_multipart_uploaded` becomes `is_multipart`; object lock mode and legal hold are upper-cased.
- A delete marker's size is 0, as in the metadata tables (reports leave it empty).
- Reports have no tags or user metadata: `object_tags` and `user_metadata` are NULL.
- Reports have no sequence number: `sequence_number` is synthesized as 17 decimal digits of the
  last-modified time in microseconds, then `1` for the latest version or `0`, then the version ID.
  Within one key a later version therefore sorts later, as S3 Metadata's does; the values are not
  S3's and must not be compared with a journal's.
- Columns a report lacks are NULL.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote_plus

import pyarrow as pa
import pyarrow.compute as pc

from .buffers import arrow_copy
from .errors import DataError
from .schema import INVENTORY, TIMESTAMP

# The extra columns a report carries beyond the metadata inventory's 16.
EXTRA = pa.schema([
    pa.field("is_latest", pa.bool_()),
    pa.field("replication_status", pa.string()),
    pa.field("object_lock_retain_until_date", TIMESTAMP),
    pa.field("object_lock_mode", pa.string()),
    pa.field("object_lock_legal_hold_status", pa.string()),
    pa.field("intelligent_tiering_access_tier", pa.string()),
    pa.field("object_access_control_list", pa.string()),
    pa.field("object_owner", pa.string()),
    pa.field("lifecycle_expiration_date", TIMESTAMP),
])
# The `inventory_report` table: the inventory's columns, then the report's extras.
REPORT = pa.schema(list(INVENTORY) + list(EXTRA))

# CSV fileSchema names -> ORC/Parquet column names (AWS's two spellings of one field list).
CSV_NAMES = {
    "Bucket": "bucket", "Key": "key", "VersionId": "version_id", "IsLatest": "is_latest",
    "IsDeleteMarker": "is_delete_marker", "Size": "size", "LastModifiedDate": "last_modified_date",
    "ETag": "e_tag", "StorageClass": "storage_class", "IsMultipartUploaded": "is_multipart_uploaded",
    "ReplicationStatus": "replication_status", "EncryptionStatus": "encryption_status",
    "ObjectLockRetainUntilDate": "object_lock_retain_until_date", "ObjectLockMode": "object_lock_mode",
    "ObjectLockLegalHoldStatus": "object_lock_legal_hold_status",
    "IntelligentTieringAccessTier": "intelligent_tiering_access_tier", "BucketKeyStatus": "bucket_key_status",
    "ChecksumAlgorithm": "checksum_algorithm", "ObjectAccessControlList": "object_access_control_list",
    "ObjectOwner": "object_owner", "LifecycleExpirationDate": "lifecycle_expiration_date",
}
# Report column -> metadata column, where the names differ.
RENAMED = {"is_multipart_uploaded": "is_multipart", "bucket_key_status": "is_bucket_key_enabled"}
FORMATS = {"CSV": ".csv.gz", "ORC": ".orc", "Parquet": ".parquet"}
_BOOLEAN = {"is_latest", "is_delete_marker", "is_multipart_uploaded"}
_TIMES = {"last_modified_date", "object_lock_retain_until_date", "lifecycle_expiration_date"}
_RUN = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}-\d{2}Z$")  # a run folder: YYYY-MM-DDTHH-MMZ


@dataclass
class Manifest:
    """One report run: where its manifest is, and what it lists."""

    location: str
    source_bucket: str
    destination_bucket: str
    file_format: str
    columns: list[str]  # ORC/Parquet names, in fileSchema order
    files: list[dict[str, Any]]
    creation_timestamp: str | None


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

    def read(self, location: str) -> bytes:
        if location.startswith("s3://"):
            bucket, _, key = location[5:].partition("/")
            try:
                return self.s3().get_object(Bucket=bucket, Key=key)["Body"].read()
            except Exception as exc:  # botocore's errors: one line, naming the object
                raise DataError(f"cannot read {location}: {_first_line(exc)}") from None
        try:
            return Path(location).read_bytes()
        except OSError as exc:
            raise DataError(f"cannot read {location}: {exc.strerror or exc}") from None

    def exists(self, location: str) -> bool:
        if location.startswith("s3://"):
            bucket, _, key = location[5:].partition("/")
            try:
                self.s3().head_object(Bucket=bucket, Key=key)
                return True
            except Exception:
                return False
        return Path(location).is_file()

    def manifests(self, location: str) -> list[str]:
        """Every manifest.json under `location` (a manifest itself, a run folder, or any prefix above)."""
        if location.startswith("s3://"):
            if location.endswith("/manifest.json"):
                return [location]
            bucket, _, prefix = location[5:].partition("/")
            if prefix and not prefix.endswith("/"):
                prefix += "/"
            found = []
            try:
                for page in self.s3().get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
                    found += [f"s3://{bucket}/{o['Key']}" for o in page.get("Contents", [])
                              if o["Key"].endswith("/manifest.json")]
            except Exception as exc:
                raise DataError(f"cannot list {location}: {_first_line(exc)}") from None
            return sorted(found)
        path = Path(location).expanduser()
        if path.is_file():
            return [str(path)]
        if not path.is_dir():
            raise DataError(f"inventory report not found: {location}")
        return sorted(str(p) for p in path.glob("**/manifest.json") if p.is_file())


def locate(location: str, source: _Source | None = None) -> list[str]:
    """The manifests to read: the newest run of each inventory configuration under `location`."""
    source = source or _Source()
    found = source.manifests(location)
    newest: dict[str, tuple[str, str]] = {}
    for manifest in found:
        parts = manifest.rstrip("/").split("/")
        if len(parts) < 2 or "hive" in parts[:-1]:
            continue
        run, config = parts[-2], "/".join(parts[:-2])
        if not _RUN.match(run):
            config = "/".join(parts[:-1])  # a manifest outside AWS's layout stands alone
        if config not in newest or run > newest[config][0]:
            newest[config] = (run, manifest)
    if not newest:
        raise DataError(f"no inventory report under {location}: expected a manifest.json")
    return [m for _, m in sorted(newest.values(), key=lambda v: v[1])]


def parse_manifest(location: str, data: bytes) -> Manifest:
    try:
        doc = json.loads(data)
        file_format = doc["fileFormat"]
        schema_text = doc["fileSchema"]
        files = doc["files"]
    except (ValueError, KeyError, TypeError) as exc:
        raise DataError(f"{location}: not an S3 Inventory manifest ({_first_line(exc)})") from None
    if file_format not in FORMATS:
        raise DataError(f"{location}: unknown fileFormat {file_format!r} (expected CSV, ORC or Parquet)")
    return Manifest(location, doc.get("sourceBucket", ""), doc.get("destinationBucket", ""), file_format,
                    schema_columns(file_format, schema_text), list(files), doc.get("creationTimestamp"))


def schema_columns(file_format: str, text: str) -> list[str]:
    """Column names, in order, from a manifest's fileSchema (any of the three forms)."""
    if file_format == "CSV":
        names = [n.strip() for n in text.split(",") if n.strip()]
        unknown = [n for n in names if n not in CSV_NAMES]
        if unknown:
            raise DataError(f"fileSchema names an unknown field {unknown[0]!r}")
        return [CSV_NAMES[n] for n in names]
    if file_format == "ORC":
        return re.findall(r"(?:<|,)\s*(\w+)\s*:", text)
    return re.findall(r"(?:binary|int64|int32|boolean)\s+(\w+)", text)  # Parquet's message schema


# --- reading ------------------------------------------------------------------------------------

def read(locations: str | os.PathLike | list[str | os.PathLike]) -> pa.Table:
    """The `inventory_report` table (REPORT schema) of every report under `locations`."""
    if isinstance(locations, (str, os.PathLike)):
        locations = [locations]
    source = _Source()
    tables = []
    for location in locations:
        for manifest_location in locate(os.fspath(location), source):
            tables.append(read_manifest(manifest_location, source))
    return pa.concat_tables(tables) if tables else REPORT.empty_table()


def inventory(report: pa.Table) -> pa.Table:
    """The 16 columns of the metadata inventory, from an `inventory_report` table."""
    return report.select(INVENTORY.names).cast(INVENTORY)


def read_manifest(location: str, source: _Source | None = None) -> pa.Table:
    source = source or _Source()
    data = source.read(location)
    checksum_location = location[: -len("manifest.json")] + "manifest.checksum"
    if source.exists(checksum_location):
        expected = source.read(checksum_location).decode("ascii", "replace").strip().split()[0:1]
        if expected and expected[0].lower() != hashlib.md5(data).hexdigest():
            raise DataError(f"{location}: MD5 does not match manifest.checksum (corrupt or modified manifest)")
    manifest = parse_manifest(location, data)
    parts = [_read_file(manifest, entry, source) for entry in manifest.files]
    if not parts:
        return REPORT.empty_table()
    return pa.concat_tables(parts)


def _data_location(manifest: Manifest, key: str, source: _Source) -> str:
    if manifest.location.startswith("s3://"):
        bucket = manifest.destination_bucket.rsplit(":", 1)[-1] or manifest.location[5:].split("/", 1)[0]
        return f"s3://{bucket}/{key}"
    # A local copy: the key is relative to the destination bucket, which is some folder above the
    # manifest (or was synced from a prefix of it, so try the key's tails too).
    here = Path(manifest.location).parent
    parts = key.split("/")
    for start in range(len(parts)):
        tail = Path(*parts[start:])
        for folder in (here, *here.parents):
            if (folder / tail).is_file():
                return str(folder / tail)
    raise DataError(f"inventory report file {key} listed in {manifest.location} not found under {here.parent}")


def _read_file(manifest: Manifest, entry: dict[str, Any], source: _Source) -> pa.Table:
    key = str(entry.get("key", ""))
    where = _data_location(manifest, key, source)
    data = source.read(where)
    size = entry.get("size")
    if size is not None and int(size) != len(data):
        raise DataError(f"inventory report file {where}: {len(data)} bytes, the manifest says {size} "
                        "(truncated or corrupt)")
    expected = str(entry.get("MD5checksum", "")).lower()
    if expected and hashlib.md5(data).hexdigest() != expected:
        raise DataError(f"inventory report file {where}: MD5 does not match the manifest's {expected} "
                        "(corrupt or modified)")
    try:
        if manifest.file_format == "CSV":
            raw = _read_csv(data, manifest.columns)
        elif manifest.file_format == "ORC":
            import pyarrow.orc as orc
            raw = orc.ORCFile(arrow_copy(data)).read()
        else:
            import pyarrow.parquet as pq
            raw = pq.read_table(arrow_copy(data))  # Arrow memory: see analytics/buffers.py
        return normalize(raw, csv=manifest.file_format == "CSV")
    except DataError as exc:
        raise DataError(f"inventory report file {where}: {exc}") from None
    except (pa.ArrowException, OSError, EOFError, ValueError) as exc:
        raise DataError(f"inventory report file {where} is unreadable: {_first_line(exc)}") from None


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


def normalize(raw: pa.Table, csv: bool = False) -> pa.Table:
    """A report's columns, as read, mapped to the REPORT schema and the metadata tables' values."""
    n = raw.num_rows
    have = {name.lower(): raw.column(name) for name in raw.column_names}
    missing = [c for c in ("bucket", "key") if c not in have]
    if missing:
        raise DataError(f"no {missing[0]} column")

    def text(name: str) -> pa.ChunkedArray | None:
        if name not in have:
            return None
        column = have[name]
        if not pa.types.is_string(column.type) and not pa.types.is_large_string(column.type):
            column = pc.cast(column, pa.string())
        # Empty text is "no value" in every format.
        return pc.if_else(pc.equal(column, ""), pa.scalar(None, pa.string()), column)

    out: dict[str, Any] = {}
    for name in ("bucket", "key", "version_id", "e_tag", "storage_class", "kms_key_arn",
                 "replication_status", "intelligent_tiering_access_tier", "object_access_control_list",
                 "object_owner"):
        out[name] = text(name)
    if csv and out["key"] is not None:
        out["key"] = pa.array([None if k is None else unquote_plus(k) for k in out["key"].to_pylist()],
                              pa.string())
    for name in _BOOLEAN:
        column = have.get(name)
        if column is not None and not pa.types.is_boolean(column.type):
            column = pc.equal(pc.utf8_lower(text(name)), "true")
        out[RENAMED.get(name, name)] = column
    size = have.get("size")
    if size is not None:
        size = pc.cast(text("size") if csv else size, pa.int64())
    out["size"] = size
    for name in _TIMES:
        out[name] = _timestamp(have.get(name), text(name) if csv else None)
    status = text("encryption_status")
    if status is not None:
        status = pc.if_else(pc.equal(status, "NOT-SSE"), pa.scalar(None, pa.string()), status)
    out["encryption_status"] = status
    checksum = text("checksum_algorithm")
    if checksum is not None:
        checksum = pc.replace_substring(pc.utf8_upper(checksum), "-", "")
    out["checksum_algorithm"] = checksum
    bucket_key = text("bucket_key_status")
    if bucket_key is not None:
        bucket_key = pc.equal(pc.utf8_upper(bucket_key), "ENABLED")
    out["is_bucket_key_enabled"] = bucket_key
    for name in ("object_lock_mode", "object_lock_legal_hold_status"):
        value = text(name)
        out[name] = pc.utf8_upper(value) if value is not None else None
    if out["is_delete_marker"] is not None and out["size"] is not None:
        # S3 Metadata gives a delete marker size 0; a report leaves it empty.
        out["size"] = pc.if_else(pc.and_(pc.fill_null(out["is_delete_marker"], False), pc.is_null(out["size"])),
                                 pa.scalar(0, pa.int64()), out["size"])
    out["sequence_number"] = _sequence_numbers(out["last_modified_date"], out.get("is_latest"), out["version_id"], n)
    out["object_tags"] = out["user_metadata"] = None
    arrays = []
    for f in REPORT:
        value = out.get(f.name)
        if value is None:
            arrays.append(pa.nulls(n, f.type))
        else:
            arrays.append(pc.cast(value, f.type) if value.type != f.type else value)
    if out["bucket"].null_count or out["key"].null_count:
        raise DataError("a row has no bucket or key")
    return pa.Table.from_arrays(arrays, schema=REPORT)


def _timestamp(column: pa.ChunkedArray | None, text: pa.ChunkedArray | None) -> pa.ChunkedArray | None:
    if column is None:
        return None
    if text is not None:
        # CSV writes ISO 8601 with a Z (2025-11-20T09:00:00.000Z): parse as UTC, keep naive UTC.
        return pc.cast(pc.cast(text, pa.timestamp("us", tz="UTC")), TIMESTAMP)
    if pa.types.is_integer(column.type):  # the older DDL's bigint: epoch milliseconds
        return pc.cast(pc.cast(column, pa.int64()).cast(pa.timestamp("ms")), TIMESTAMP)
    if pa.types.is_timestamp(column.type) and column.type.tz is not None:
        return pc.cast(column, pa.timestamp(column.type.unit, tz="UTC")).cast(TIMESTAMP)
    return pc.cast(column, TIMESTAMP)


def _sequence_numbers(modified: pa.ChunkedArray | None, latest: pa.ChunkedArray | None,
                      version: pa.ChunkedArray | None, n: int) -> pa.Array:
    """Deterministic stand-ins: last-modified microseconds (17 digits), latest flag, version ID."""
    times = [0] * n if modified is None else pc.fill_null(pc.cast(modified, pa.int64()), 0).to_pylist()
    flags = [None] * n if latest is None else latest.to_pylist()
    versions = [None] * n if version is None else version.to_pylist()
    rows = zip(times, flags, versions, strict=True)
    return pa.array([f"{max(t, 0):017d}{1 if f else 0}{v or ''}" for t, f, v in rows], pa.string())


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


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
    from .errors import BadInput

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
