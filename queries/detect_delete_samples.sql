-- Deletes in a window by one actor, address or prefix: the sample rows behind a delete finding.
--
-- Evidence for the report's delete detectors (s3meta report): DELETE records in the half-open
-- window [since, until), narrowed by any of bucket, requester, source IP and key prefix (each
-- optional), oldest first, at most 200 rows. S3 Lifecycle's deletes (requester s3.amazonaws.com)
-- are left out unless the requester asked for is s3.amazonaws.com. Permanent deletes carry no
-- requester or IP (AWS's NULL rule); pass unattributed = 1 to list only those. The prefix is
-- matched literally with starts_with.
--
-- @tags detector, deletes
-- @param since timestamp = 24h: start of the window, inclusive (ISO 8601, or a duration before until)
-- @param until timestamp = now: end of the window, exclusive
-- @param bucket bucket = null: only this bucket (all buckets when omitted)
-- @param requester requester = null: only deletes by this account or principal
-- @param ip ip = null: only deletes from this source IP address
-- @param prefix prefix = null: only keys starting with this text
-- @param unattributed integer = 0: 1 for only deletes without a requester (permanent deletes)
SELECT bucket, key, version_id, sequence_number, record_timestamp, is_delete_marker, requester,
       source_ip_address, request_id
FROM journal
WHERE record_type = 'DELETE'
  AND record_timestamp >= :since
  AND record_timestamp < :until
  AND (:bucket IS NULL OR bucket = :bucket)
  AND (:requester IS NULL OR requester = :requester)
  AND (:ip IS NULL OR source_ip_address = :ip)
  AND (:prefix IS NULL OR starts_with(key, :prefix))
  AND (:unattributed = 0 OR requester IS NULL)
  AND (coalesce(requester, '') <> 's3.amazonaws.com' OR :requester = 's3.amazonaws.com')
ORDER BY record_timestamp, bucket, key, sequence_number
LIMIT 200
