-- Uploads in a time window that were stored unencrypted (encryption_status NULL), and by whom.
--
-- CREATE records whose encryption_status is NULL, the metadata tables' spelling of
-- "unencrypted", with the requester and source IP that wrote them, over the half-open window
-- [since, until). Caveat from AWS's NULL rules: a CREATE whose version was already overwritten
-- or deleted when S3 Metadata processed it has NULL in its object columns too; such rows show
-- NULL e_tag and size as well, and are not proof of an unencrypted upload. The prefix is matched
-- literally with starts_with (no LIKE wildcards).
--
-- @tags analyst, encryption
-- @param since timestamp = 24h: start of the window, inclusive (ISO 8601, or a duration before until)
-- @param until timestamp = now: end of the window, exclusive
-- @param bucket bucket = null: only this bucket (all buckets when omitted)
-- @param prefix prefix = null: only keys starting with this text (all keys when omitted)
SELECT bucket, key, version_id, record_timestamp, size, e_tag, requester, source_ip_address,
       request_id, sequence_number
FROM journal
WHERE record_type = 'CREATE'
  AND encryption_status IS NULL
  AND record_timestamp >= :since
  AND record_timestamp < :until
  AND (:bucket IS NULL OR bucket = :bucket)
  AND (:prefix IS NULL OR starts_with(key, :prefix))
ORDER BY record_timestamp DESC, bucket, key, sequence_number DESC
