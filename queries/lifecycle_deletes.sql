-- Deletes made by S3 Lifecycle in a time window.
--
-- AWS example "objects deleted in the last 24 hours by S3 Lifecycle": DELETE records whose
-- requester is the S3 service principal s3.amazonaws.com, over the half-open window
-- [since, until). What this can and cannot see: a Lifecycle expiration of a current version in
-- a versioned bucket writes a delete marker, which carries the requester, so it is listed. A
-- permanent delete (noncurrent-version expiration, or expiration in an unversioned bucket)
-- carries NULL in every column but bucket, key, sequence_number, record_type, record_timestamp
-- and version_id, so AWS's own rule makes it indistinguishable from a user's permanent delete:
-- such deletes are NOT listed here (recent_deletes shows them, unattributed).
--
-- @tags aws, deletes
-- @param since timestamp = 24h: start of the window, inclusive (ISO 8601, or a duration before until)
-- @param until timestamp = now: end of the window, exclusive
-- @param bucket bucket = null: only this bucket (all buckets when omitted)
SELECT bucket, key, version_id, sequence_number, record_timestamp, is_delete_marker,
       last_modified_date, request_id
FROM journal
WHERE record_type = 'DELETE'
  AND requester = 's3.amazonaws.com'
  AND record_timestamp >= :since
  AND record_timestamp < :until
  AND (:bucket IS NULL OR bucket = :bucket)
ORDER BY record_timestamp DESC, bucket, key, sequence_number DESC
