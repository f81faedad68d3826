-- Writes in a window under one KMS key, with the encryption each one replaced.
--
-- Evidence for the report's KMS key-swap detector (s3meta report), which runs it only for a key
-- whose account the bucket's baseline never used. CREATE records in the half-open window
-- [since, until) whose kms_key_arn is the given one (any KMS key when omitted), each with the
-- previous CREATE or UPDATE_METADATA record of the same bucket and key (by sequence_number,
-- looked for from baseline_since): previous_status and previous_kms_key_arn are NULL for a new
-- key, or one last written before baseline_since. The key's account is the fifth field of its
-- ARN (arn:aws:kms:region:account:key/id).
--
-- @tags detector, encryption
-- @param baseline_since timestamp = 15d: how far back to look for the previous record (inclusive)
-- @param since timestamp = 24h: start of the window, inclusive (ISO 8601, or a duration before until)
-- @param until timestamp = now: end of the window, exclusive
-- @param bucket bucket = null: only this bucket (all buckets when omitted)
-- @param kms_key_arn string = null: only writes under this key ARN (any KMS key when omitted)
WITH writes AS (
    SELECT bucket, key, version_id, sequence_number, record_timestamp
    FROM journal
    WHERE record_type = 'CREATE'
      AND record_timestamp >= :since
      AND record_timestamp < :until
      AND kms_key_arn IS NOT NULL
      AND (:kms_key_arn IS NULL OR kms_key_arn = :kms_key_arn)
      AND (:bucket IS NULL OR bucket = :bucket)
),
history AS (
    SELECT h.bucket, h.key, h.version_id, h.sequence_number, h.record_timestamp, h.size, h.encryption_status,
           h.kms_key_arn, h.requester, h.source_ip_address, h.e_tag,
           lag(h.encryption_status) OVER (PARTITION BY h.bucket, h.key ORDER BY h.sequence_number) AS previous_status,
           lag(h.kms_key_arn) OVER (PARTITION BY h.bucket, h.key ORDER BY h.sequence_number) AS previous_kms_key_arn,
           lag(h.e_tag) OVER (PARTITION BY h.bucket, h.key ORDER BY h.sequence_number) AS previous_e_tag
    FROM journal AS h
    JOIN (SELECT DISTINCT bucket, key FROM writes) AS t ON t.bucket = h.bucket AND t.key = h.key
    -- CREATE and UPDATE_METADATA (a DELETE record is no object state; annotation records are not the
    -- object's). Written as two exclusions rather than IN (...): DuckDB estimates an IN list as selective,
    -- builds its hash join on the journal instead of on the touched keys, and runs twice as long.
    WHERE h.record_type <> 'DELETE'
      AND h.record_type NOT LIKE '%ANNOTATION%'
      AND h.record_timestamp >= :baseline_since
      AND h.record_timestamp < :until
      AND coalesce(h.requester, '') <> 's3.amazonaws.com'
)
SELECT h.bucket, h.key, h.version_id, h.sequence_number, h.record_timestamp, h.size, h.encryption_status,
       h.kms_key_arn, split_part(h.kms_key_arn, ':', 5) AS kms_account, h.requester, h.source_ip_address,
       CASE WHEN h.previous_e_tag IS NOT NULL THEN coalesce(h.previous_status, 'unencrypted') END AS previous_status,
       h.previous_kms_key_arn
FROM history AS h
JOIN writes AS w ON w.bucket = h.bucket AND w.key = h.key AND w.sequence_number = h.sequence_number
ORDER BY h.record_timestamp, h.bucket, h.key, h.sequence_number
