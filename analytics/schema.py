"""The journal, inventory and annotation table schemas of Amazon S3 Metadata, as Arrow: the single source of truth.

Column order, types and nullability follow the AWS schema pages and a real table's Iceberg schema
(shared/reference/s3-metadata.md, sections 1 and 2, and s3-annotations.md for the June 2026
changes). Timestamps are Iceberg `timestamp` without a time zone (microseconds), UTC by convention.
`version_id` is modelled as nullable: objects written before versioning was enabled, and
unversioned buckets, have none.

Two layouts exist in the wild: exports made before the annotations launch (2025: a 21-column
journal, a 16-column inventory, no annotation table) and after it (2026: 23 and 17 columns, and
the 12-column annotation table). `ADDED_IN_2026` names the columns a 2025 export lacks; readers
present them as NULL, so one query text runs on both.
"""

from __future__ import annotations

import pyarrow as pa

TIMESTAMP = pa.timestamp("us")
# Iceberg map<string,string>: keys required, values optional.
STRING_MAP = pa.map_(pa.string(), pa.string())

# Record types about the object itself, and (since June 2026) about one of its annotations. An
# annotation overwrite is a CREATE_ANNOTATION too: AWS has no separate "update content" type.
OBJECT_RECORD_TYPES = ("CREATE", "UPDATE_METADATA", "DELETE")
ANNOTATION_RECORD_TYPES = ("CREATE_ANNOTATION", "DELETE_ANNOTATION", "UPDATE_ANNOTATION_METADATA")
RECORD_TYPES = OBJECT_RECORD_TYPES + ANNOTATION_RECORD_TYPES
ENCRYPTION_STATUSES = ("SSE-S3", "SSE-KMS", "DSSE-KMS", "SSE-C")  # NULL means unencrypted
STORAGE_CLASSES = (
    "STANDARD", "REDUCED_REDUNDANCY", "STANDARD_IA", "ONEZONE_IA",
    "INTELLIGENT_TIERING", "GLACIER", "DEEP_ARCHIVE", "GLACIER_IR",
)
# The journal page writes CRC64NVME, the inventory page CRC64-NVME: both are accepted when reading.
# The last five arrived with the 2026 schema pages.
CHECKSUM_ALGORITHMS = ("CRC64NVME", "CRC32", "CRC32C", "SHA1", "SHA256",
                       "MD5", "XXHASH64", "XXHASH3", "XXHASH128", "SHA512")
# annotation.replication_status and the annotation table's replication_status: PENDING, COMPLETED
# and FAILED at a replication source, REPLICA at the destination, NULL without replication.
REPLICATION_STATUSES = ("PENDING", "COMPLETED", "FAILED", "REPLICA")
LIFECYCLE_PRINCIPAL = "s3.amazonaws.com"  # requester of S3 Lifecycle expirations and transitions
GUARDDUTY_TAG = "GuardDutyMalwareScanStatus"

# The journal's `annotation` column: the page lists annotation.name ... annotation.checksum_algorithm
# as dotted rows and AWS's own queries select annotation.name, so it is a struct (s3-annotations.md
# section 2.1). It holds no payload: the journal records that an annotation changed, never its text.
# UNCONFIRMED: the page says "Timestamp" (not "Timestamp NTZ") for last_modified_date; readers
# accept either and the toolkit writes naive UTC, like every other timestamp.
ANNOTATION_STRUCT = pa.struct([
    pa.field("name", pa.string()),
    pa.field("sequence_number", pa.string()),
    pa.field("last_modified_date", TIMESTAMP),
    pa.field("size", pa.int64()),
    pa.field("e_tag", pa.string()),
    pa.field("replication_status", pa.string()),
    pa.field("checksum_algorithm", pa.string()),
])

JOURNAL = pa.schema([
    pa.field("bucket", pa.string(), nullable=False),
    pa.field("key", pa.string(), nullable=False),
    pa.field("sequence_number", pa.string(), nullable=False),
    pa.field("record_type", pa.string(), nullable=False),
    pa.field("record_timestamp", TIMESTAMP, nullable=False),
    pa.field("version_id", pa.string()),
    pa.field("is_delete_marker", pa.bool_()),
    pa.field("size", pa.int64()),
    pa.field("last_modified_date", TIMESTAMP),
    pa.field("e_tag", pa.string()),
    pa.field("storage_class", pa.string()),
    pa.field("is_multipart", pa.bool_()),
    pa.field("encryption_status", pa.string()),
    pa.field("is_bucket_key_enabled", pa.bool_()),
    pa.field("kms_key_arn", pa.string()),
    pa.field("checksum_algorithm", pa.string()),
    pa.field("object_tags", STRING_MAP),
    pa.field("user_metadata", STRING_MAP),
    pa.field("requester", pa.string()),
    pa.field("source_ip_address", pa.string()),
    pa.field("request_id", pa.string()),
    # One identifier per object version instance (a re-written null version gets a new one); the
    # key to join with the annotation table.
    pa.field("object_join_key", pa.string()),
    pa.field("annotation", ANNOTATION_STRUCT),
])

# The inventory holds the current state of each object version: a subset of the journal's columns,
# without record_type, record_timestamp, requester, source_ip_address, request_id and annotation;
# object_join_key sits fourth, as on AWS's page.
INVENTORY = pa.schema([
    JOURNAL.field(name) for name in (
        "bucket", "key", "sequence_number", "object_join_key", "version_id", "is_delete_marker", "size",
        "last_modified_date", "e_tag", "storage_class", "is_multipart", "encryption_status",
        "is_bucket_key_enabled", "kms_key_arn", "checksum_algorithm", "object_tags", "user_metadata",
    )
])

# The annotation table: the latest payload of each annotation of each object version, one row per
# (bucket, object_key, object_version_id, name). A current-state table: no history, no requester,
# and a deleted annotation simply has no row. Note the column names: object_key and
# object_version_id, not key and version_id.
ANNOTATION = pa.schema([
    pa.field("bucket", pa.string(), nullable=False),
    pa.field("object_key", pa.string(), nullable=False),
    pa.field("object_version_id", pa.string()),
    pa.field("object_join_key", pa.string(), nullable=False),
    pa.field("name", pa.string(), nullable=False),
    pa.field("sequence_number", pa.string(), nullable=False),
    pa.field("last_modified_date", TIMESTAMP),
    pa.field("size", pa.int64()),
    pa.field("e_tag", pa.string()),
    pa.field("checksum_algorithm", pa.string()),
    pa.field("replication_status", pa.string()),
    pa.field("text_value", pa.string()),
])

TABLES: dict[str, pa.Schema] = {"journal": JOURNAL, "inventory": INVENTORY, "annotation": ANNOTATION}

# Columns a 2025 export (made before the annotations launch) lacks: read as NULL.
ADDED_IN_2026: dict[str, tuple[str, ...]] = {
    "journal": ("object_join_key", "annotation"),
    "inventory": ("object_join_key",),
    "annotation": (),
}

# A permanent delete carries NULL in every journal column except these (AWS's NULL rule).
PERMANENT_DELETE_COLUMNS = ("bucket", "key", "sequence_number", "record_type", "record_timestamp", "version_id")


def missing_columns(table: str, present: list[str]) -> list[str]:
    """Columns of `table`'s S3 Metadata schema that `present` lacks, in schema order.

    The columns added in 2026 are not counted missing: a 2025 export is read with them as NULL.
    """
    have = set(present) | set(ADDED_IN_2026[table])
    return [name for name in TABLES[table].names if name not in have]
