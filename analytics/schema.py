"""The journal and inventory table schemas of Amazon S3 Metadata, as Arrow: the single source of truth.

Column order, types and nullability follow the AWS schema pages and a real table's Iceberg schema
(shared/reference/s3-metadata.md, sections 1 and 2). Timestamps are Iceberg `timestamp` without a
time zone (microseconds), UTC by convention. `version_id` is modelled as nullable: objects written
before versioning was enabled, and unversioned buckets, have none.
"""

from __future__ import annotations

import pyarrow as pa

TIMESTAMP = pa.timestamp("us")
# Iceberg map<string,string>: keys required, values optional.
STRING_MAP = pa.map_(pa.string(), pa.string())

RECORD_TYPES = ("CREATE", "UPDATE_METADATA", "DELETE")
ENCRYPTION_STATUSES = ("SSE-S3", "SSE-KMS", "DSSE-KMS", "SSE-C")  # NULL means unencrypted
STORAGE_CLASSES = (
    "STANDARD", "REDUCED_REDUNDANCY", "STANDARD_IA", "ONEZONE_IA",
    "INTELLIGENT_TIERING", "GLACIER", "DEEP_ARCHIVE", "GLACIER_IR",
)
# The journal page writes CRC64NVME, the inventory page CRC64-NVME: both are accepted when reading.
CHECKSUM_ALGORITHMS = ("CRC64NVME", "CRC32", "CRC32C", "SHA1", "SHA256")
LIFECYCLE_PRINCIPAL = "s3.amazonaws.com"  # requester of S3 Lifecycle expirations and transitions
GUARDDUTY_TAG = "GuardDutyMalwareScanStatus"

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
])

# The inventory holds the current state of each object version: a subset of the journal's columns,
# without record_type, record_timestamp, requester, source_ip_address and request_id.
INVENTORY = pa.schema([
    JOURNAL.field(name) for name in (
        "bucket", "key", "sequence_number", "version_id", "is_delete_marker", "size",
        "last_modified_date", "e_tag", "storage_class", "is_multipart", "encryption_status",
        "is_bucket_key_enabled", "kms_key_arn", "checksum_algorithm", "object_tags", "user_metadata",
    )
])

TABLES: dict[str, pa.Schema] = {"journal": JOURNAL, "inventory": INVENTORY}

# A permanent delete carries NULL in every journal column except these (AWS's NULL rule).
PERMANENT_DELETE_COLUMNS = ("bucket", "key", "sequence_number", "record_type", "record_timestamp", "version_id")


def missing_columns(table: str, present: list[str]) -> list[str]:
    """Columns of `table`'s S3 Metadata schema that `present` lacks, in schema order."""
    have = set(present)
    return [name for name in TABLES[table].names if name not in have]
