-- Uploads in a window stored unencrypted or outside a set of allowed encryption types, under a prefix.
--
-- Evidence for the report's encryption detectors (s3meta report): CREATE records in the half-open
-- window [since, until) whose encryption_status is NULL (unencrypted), or, when `allowed` is given
-- (a comma-separated list such as SSE-KMS,DSSE-KMS), is not one of the allowed types. A CREATE
-- whose version had already vanished when S3 Metadata processed it has NULL object columns, NULL
-- encryption_status included (AWS's NULL rule), so rows with a NULL e_tag are left out: they
-- prove nothing about encryption. The prefix is matched literally with starts_with.
--
-- @tags detector, encryption
-- @param since timestamp = 24h: start of the window, inclusive (ISO 8601, or a duration before until)
-- @param until timestamp = now: end of the window, exclusive
-- @param bucket bucket = null: only this bucket (all buckets when omitted)
-- @param prefix prefix = null: only keys starting with this text (all keys when omitted)
-- @param allowed string = null: comma-separated allowed types; when omitted, only unencrypted uploads
SELECT bucket, key, version_id, sequence_number, record_timestamp, encryption_status, kms_key_arn, size,
       requester, source_ip_address
FROM journal
WHERE record_type = 'CREATE'
  AND record_timestamp >= :since
  AND record_timestamp < :until
  AND e_tag IS NOT NULL
  AND (:bucket IS NULL OR bucket = :bucket)
  AND (:prefix IS NULL OR starts_with(key, :prefix))
  AND (encryption_status IS NULL
       OR (:allowed IS NOT NULL
           AND strpos(',' || replace(:allowed, ' ', '') || ',', ',' || encryption_status || ',') = 0))
ORDER BY record_timestamp, bucket, key, sequence_number
