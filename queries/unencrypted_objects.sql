-- Stored objects that are not encrypted at all (encryption_status NULL).
--
-- AWS example "listing objects that aren't encrypted", over the live inventory. The metadata
-- tables write NULL for an unencrypted object (classic S3 Inventory reports write NOT-SSE
-- instead), so the test is `encryption_status IS NULL`, never a comparison with a value. Every
-- stored version is listed; delete markers are not objects and are left out. The prefix is
-- matched literally with starts_with (no LIKE wildcards). Read from classic S3 Inventory reports,
-- an object whose report lacks EncryptionStatus is listed too, with encryption_status 'UNKNOWN':
-- it may be unencrypted, and nothing says it is not; the unencrypted ones show NULL.
--
-- @tags aws, encryption, inventory
-- @param bucket bucket = null: only this bucket (all buckets when omitted)
-- @param prefix prefix = null: only keys starting with this text (all keys when omitted)
SELECT bucket, key, version_id, size, storage_class, last_modified_date, encryption_status
FROM inventory
WHERE coalesce(is_delete_marker, false) = false
  AND (encryption_status IS NULL OR encryption_status = 'UNKNOWN')
  AND (:bucket IS NULL OR bucket = :bucket)
  AND (:prefix IS NULL OR starts_with(key, :prefix))
ORDER BY bucket, key, sequence_number, version_id NULLS FIRST
