-- Stored objects by storage class, with their count and bytes, most bytes first.
--
-- The AWS agent skill's "inventory by storage class", over the live inventory. Every stored
-- version counts (noncurrent versions are billed too); delete markers are not objects and are
-- left out. A NULL storage_class is kept as its own row. The Intelligent-Tiering access tier is
-- not in the metadata tables (AWS's documented limit): those objects show INTELLIGENT_TIERING.
-- Read from classic S3 Inventory reports, objects whose report lacks StorageClass form an 'UNKNOWN'
-- row, and a total is NULL (unknown) when a report in it lacks Size.
--
-- @tags aws, inventory
-- @param bucket bucket = null: only this bucket (all buckets when omitted)
SELECT storage_class,
       count(*) AS object_count,
       CASE WHEN count(size) = count(*) THEN CAST(coalesce(sum(size), 0) AS BIGINT) END AS total_bytes
FROM inventory
WHERE coalesce(is_delete_marker, false) = false
  AND (:bucket IS NULL OR bucket = :bucket)
GROUP BY storage_class
ORDER BY total_bytes DESC, object_count DESC, storage_class NULLS FIRST
