-- KMS keys that stored objects depend on, with how many object versions and bytes use each.
--
-- AWS examples "KMS keys used by objects" (`SELECT DISTINCT kms_key_arn FROM journal`) and "KMS
-- keys used for PUTs in the last 7 days", answered from the live inventory instead: the journal
-- only knows objects written since S3 Metadata was enabled and also lists keys of objects
-- deleted long ago, while the inventory holds what is stored now, backfilled objects included.
-- Every stored version counts (a noncurrent version becomes unreadable if its key is disabled
-- too); delete markers are not objects and are left out. AWS may leave kms_key_arn NULL on an
-- SSE-KMS or DSSE-KMS object; those are kept as a row with a NULL kms_key_arn rather than
-- dropped, since they depend on a key nobody can name from this table.
--
-- @tags aws, encryption
-- @param bucket bucket = null: only this bucket (all buckets when omitted)
SELECT kms_key_arn,
       count(*) AS object_count,
       CAST(coalesce(sum(size), 0) AS BIGINT) AS total_bytes,
       count(DISTINCT bucket) AS bucket_count,
       count(CASE WHEN encryption_status = 'DSSE-KMS' THEN 1 END) AS dsse_kms_count,
       max(last_modified_date) AS newest_last_modified_date
FROM inventory
WHERE coalesce(is_delete_marker, false) = false
  AND (kms_key_arn IS NOT NULL OR encryption_status IN ('SSE-KMS', 'DSSE-KMS'))
  AND (:bucket IS NULL OR bucket = :bucket)
GROUP BY kms_key_arn
ORDER BY object_count DESC, kms_key_arn NULLS LAST
