-- Intelligent-Tiering storage by access tier: object count and bytes, most bytes first.
--
-- The metadata tables show INTELLIGENT_TIERING without the access tier (AWS's documented limit);
-- the classic S3 Inventory report's IntelligentTieringAccessTier has it: FREQUENT, INFREQUENT,
-- ARCHIVE_INSTANT_ACCESS, ARCHIVE, DEEP_ARCHIVE. A NULL tier is kept as its own row. Every stored
-- version counts; delete markers are left out.
--
-- @tags inventory-report, storage
-- @param bucket bucket = null: only this bucket (all buckets when omitted)
SELECT intelligent_tiering_access_tier AS access_tier,
       count(*) AS object_count,
       CAST(coalesce(sum(size), 0) AS BIGINT) AS total_bytes
FROM inventory_report
WHERE storage_class = 'INTELLIGENT_TIERING'
  AND coalesce(is_delete_marker, false) = false
  AND (:bucket IS NULL OR bucket = :bucket)
GROUP BY intelligent_tiering_access_tier
ORDER BY total_bytes DESC, object_count DESC, access_tier NULLS FIRST
