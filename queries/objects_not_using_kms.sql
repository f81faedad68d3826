-- Stored objects not encrypted with a KMS key (SSE-KMS or DSSE-KMS), unencrypted ones included.
--
-- AWS examples "objects not using KMS keys" and "listing objects not encrypted with SSE-KMS",
-- corrected. AWS's journal sample filters `encryption_status NOT IN ('SSE-KMS', 'DSSE-KMS')`,
-- which silently drops unencrypted objects: their encryption_status is NULL, and NULL NOT IN
-- (...) is not true. It also projects kms_key_arn (always NULL for such objects) instead of the
-- objects. This reads the live inventory (what is stored now, backfilled objects included),
-- keeps NULL as unencrypted, and lists every stored version; delete markers are not objects and
-- are left out. The prefix is matched literally with starts_with (no LIKE wildcards). Read from
-- classic S3 Inventory reports, an object whose report lacks EncryptionStatus is listed with
-- encryption_status 'UNKNOWN' (nothing says it uses KMS), never as unencrypted.
--
-- @tags aws, encryption, inventory
-- @param bucket bucket = null: only this bucket (all buckets when omitted)
-- @param prefix prefix = null: only keys starting with this text (all keys when omitted)
SELECT bucket, key, version_id, encryption_status, size, storage_class, last_modified_date
FROM inventory
WHERE coalesce(is_delete_marker, false) = false
  AND (encryption_status IS NULL OR encryption_status NOT IN ('SSE-KMS', 'DSSE-KMS'))
  AND (:bucket IS NULL OR bucket = :bucket)
  AND (:prefix IS NULL OR starts_with(key, :prefix))
ORDER BY bucket, key, sequence_number, version_id NULLS FIRST
