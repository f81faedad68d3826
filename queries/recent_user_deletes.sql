-- Deletes in a time window that S3 Lifecycle did not make.
--
-- STG302 workshop query "deletes not made by S3 Lifecycle". Lifecycle expirations carry the
-- requester s3.amazonaws.com and are left out. Rows whose requester is NULL are kept: AWS writes
-- NULL in every column of a permanent delete but bucket, key, sequence_number, record_type,
-- record_timestamp and version_id, so a permanent delete cannot be attributed here, and a
-- security query must never hide an unattributed delete. (A workshop-style
-- `requester <> 's3.amazonaws.com'` would drop them, because NULL <> x is not true.)
--
-- @tags workshop, deletes
-- @param since timestamp = 24h: start of the window, inclusive (ISO 8601, or a duration before until)
-- @param until timestamp = now: end of the window, exclusive
-- @param bucket bucket = null: only this bucket (all buckets when omitted)
SELECT bucket, key, version_id, sequence_number, record_timestamp, is_delete_marker,
       requester, source_ip_address, request_id, last_modified_date
FROM journal
WHERE record_type = 'DELETE'
  AND record_timestamp >= :since
  AND record_timestamp < :until
  AND (requester IS NULL OR requester <> 's3.amazonaws.com')
  AND (:bucket IS NULL OR bucket = :bucket)
ORDER BY record_timestamp DESC, bucket, key, sequence_number DESC
