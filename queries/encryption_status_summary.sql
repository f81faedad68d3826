-- Stored objects by encryption status, with their count and bytes.
--
-- STG302 workshop query "encryption status summary", over the live inventory. A NULL
-- encryption_status means unencrypted. Every stored object version counts (noncurrent versions
-- hold bytes too); delete markers are not objects and are left out. Read from classic S3 Inventory
-- reports, objects whose report lacks EncryptionStatus form an 'UNKNOWN' row (never the NULL one),
-- and a total is NULL (unknown) when a report in it lacks Size.
--
-- @tags workshop, encryption
-- @param bucket bucket = null: only this bucket (all buckets when omitted)
SELECT encryption_status,
       count(*) AS number_of_keys,
       CASE WHEN count(size) = count(*) THEN CAST(coalesce(sum(size), 0) AS BIGINT) END AS total_capacity_in_bytes
FROM inventory
WHERE coalesce(is_delete_marker, false) = false
  AND (:bucket IS NULL OR bucket = :bucket)
GROUP BY encryption_status
ORDER BY number_of_keys DESC, encryption_status NULLS FIRST
