-- Intelligent-Tiering storage by access tier: object count and bytes, most bytes first.
--
-- The metadata tables show INTELLIGENT_TIERING without the access tier (AWS's documented limit);
-- the classic S3 Inventory report's IntelligentTieringAccessTier has it: FREQUENT, INFREQUENT,
-- ARCHIVE_INSTANT_ACCESS, ARCHIVE, DEEP_ARCHIVE. A NULL tier is kept as its own row. Every stored
-- version counts; delete markers are left out. A report without IntelligentTieringAccessTier gives
-- the tier 'UNKNOWN'; one without StorageClass counts an object that has a tier, and, when the tier
-- is unknown too, every object (it may be Intelligent-Tiering) in the 'UNKNOWN' row. A total is
-- NULL (unknown) when a report in it lacks Size.
--
-- @tags inventory-report, storage
-- @param bucket bucket = null: only this bucket (all buckets when omitted)
SELECT intelligent_tiering_access_tier AS access_tier,
       count(*) AS object_count,
       CASE WHEN count(size) = count(*) THEN CAST(coalesce(sum(size), 0) AS BIGINT) END AS total_bytes
FROM inventory_report
WHERE (storage_class = 'INTELLIGENT_TIERING'
       OR (storage_class = 'UNKNOWN' AND intelligent_tiering_access_tier IS NOT NULL))
  AND coalesce(is_delete_marker, false) = false
  AND (:bucket IS NULL OR bucket = :bucket)
GROUP BY intelligent_tiering_access_tier
ORDER BY total_bytes DESC, object_count DESC, access_tier NULLS FIRST
