-- Everything one requester (an AWS account or service principal) did in a time window.
--
-- Every CREATE, UPDATE_METADATA and DELETE record whose requester is the given account ID or
-- service principal (s3.amazonaws.com for S3 Lifecycle), newest first, over the half-open window
-- [since, until), and its annotation changes (CREATE_ANNOTATION, DELETE_ANNOTATION,
-- UPDATE_ANNOTATION_METADATA, since June 2026), whose annotation_name says which annotation; the
-- other columns of an annotation record describe the object version it belongs to, if AWS fills them. Blind spot: a permanent delete carries NULL requester and source IP (AWS's
-- rule), so the permanent deletes this requester made cannot be listed; look for them in
-- recent_deletes near the times shown here.
--
-- @tags analyst, actors
-- @param requester requester: a 12-digit AWS account ID or a service principal such as s3.amazonaws.com
-- @param since timestamp = 24h: start of the window, inclusive (ISO 8601, or a duration before until)
-- @param until timestamp = now: end of the window, exclusive
-- @param bucket bucket = null: only this bucket (all buckets when omitted)
SELECT record_timestamp, record_type, bucket, key, version_id, is_delete_marker, size,
       source_ip_address, request_id, sequence_number, annotation.name AS annotation_name
FROM journal
WHERE requester = :requester
  AND record_timestamp >= :since
  AND record_timestamp < :until
  AND (:bucket IS NULL OR bucket = :bucket)
ORDER BY record_timestamp DESC, bucket, key, sequence_number DESC
