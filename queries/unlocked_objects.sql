-- Objects under a prefix that must be locked but carry no Object Lock retention or legal hold.
--
-- Reads the classic S3 Inventory report (table inventory_report: s3meta --inventory-report, or the
-- Athena table from `s3meta ddl inventory-report`), because the metadata tables hold no Object Lock
-- state (AWS's documented limit). An object counts as locked when it has a retention mode, or a
-- legal hold that is ON; a retention date already past is reported too, since it no longer
-- protects the object. Delete markers cannot be locked and are left out. The prefix is matched
-- literally with starts_with (no LIKE wildcards). A report without ObjectLockMode or
-- ObjectLockLegalHoldStatus shows them as 'UNKNOWN' and its objects are listed, since nothing says
-- they are locked; one without ObjectLockRetainUntilDate shows a NULL date next to a mode.
--
-- @tags inventory-report, compliance
-- @param prefix prefix: the prefix whose objects must be under Object Lock (e.g. finance/)
-- @param bucket bucket = null: only this bucket (all buckets when omitted)
-- @param until timestamp = now: a retention that ends before this time counts as no lock
SELECT bucket, key, version_id, size, last_modified_date, object_lock_mode,
       object_lock_retain_until_date, object_lock_legal_hold_status
FROM inventory_report
WHERE coalesce(is_delete_marker, false) = false
  AND starts_with(key, :prefix)
  AND (:bucket IS NULL OR bucket = :bucket)
  AND coalesce(upper(object_lock_legal_hold_status), 'OFF') <> 'ON'
  AND (object_lock_mode IS NULL OR object_lock_retain_until_date IS NULL
       OR object_lock_retain_until_date < :until)
ORDER BY bucket, key, version_id NULLS FIRST
