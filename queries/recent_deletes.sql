-- Deletes in a time window: every DELETE record, delete markers and permanent deletes alike.
--
-- STG302 workshop query "recent deletes", made faithful to AWS's NULL rules. The workshop filters
-- on last_modified_date, which AWS leaves NULL on permanent deletes; this filters on
-- record_timestamp over the half-open window [since, until).
-- A permanent delete carries NULL in every column but bucket, key, sequence_number, record_type,
-- record_timestamp and version_id, so its requester and source IP are NULL: is_delete_marker is
-- TRUE for a delete marker and NULL for a permanent delete.
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
  AND (:bucket IS NULL OR bucket = :bucket)
ORDER BY record_timestamp DESC, bucket, key, sequence_number DESC
