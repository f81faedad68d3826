-- Object versions whose replication FAILED, from the classic S3 Inventory report.
--
-- The metadata tables hold no replication status (AWS's documented limit); the report's
-- ReplicationStatus is PENDING, COMPLETED or FAILED on the source and REPLICA on the destination.
-- A failed version is not retried by S3 on its own: S3 Batch Replication, or a copy, replicates it.
-- An object version whose report lacks ReplicationStatus is listed too, with replication_status
-- 'UNKNOWN': nothing says it replicated.
--
-- @tags inventory-report, replication
-- @param bucket bucket = null: only this bucket (all buckets when omitted)
-- @param prefix prefix = null: only keys starting with this text (all keys when omitted)
SELECT bucket, key, version_id, is_latest, size, last_modified_date, storage_class, replication_status
FROM inventory_report
WHERE replication_status IN ('FAILED', 'UNKNOWN')
  AND (:bucket IS NULL OR bucket = :bucket)
  AND (:prefix IS NULL OR starts_with(key, :prefix))
ORDER BY bucket, key, version_id NULLS FIRST
