-- Stored objects by encryption status, with their count and bytes.
--
-- STG302 workshop query "encryption status summary", over the live inventory. A NULL
-- encryption_status means unencrypted. Every stored object version counts (noncurrent versions
-- hold bytes too); delete markers are not objects and are left out.
--
-- @tags workshop, encryption
-- @param bucket bucket = null: only this bucket (all buckets when omitted)
SELECT encryption_status,
       count(*) AS number_of_keys,
       CAST(coalesce(sum(size), 0) AS BIGINT) AS total_capacity_in_bytes
FROM inventory
WHERE coalesce(is_delete_marker, false) = false
  AND (:bucket IS NULL OR bucket = :bucket)
GROUP BY encryption_status
ORDER BY number_of_keys DESC, encryption_status NULLS FIRST
