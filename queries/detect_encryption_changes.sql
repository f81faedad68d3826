-- Overwrites in a window that weakened a key's encryption or moved it to another KMS key.
--
-- Evidence for the report's encryption-downgrade detector (s3meta report): each CREATE in the
-- half-open window [since, until) is compared with the previous CREATE of the same bucket and key
-- (by sequence_number, looked for from baseline_since). Strength ranks: unencrypted 0, SSE-C 1,
-- SSE-S3 1, SSE-KMS 2, DSSE-KMS 3. A row is kept when the new rank is lower, or when both are
-- KMS-encrypted with different, known key ARNs. Versions that had vanished before S3 Metadata
-- processed them carry NULL object columns (AWS's NULL rule), so either side with a NULL e_tag
-- is left out. An object first written before baseline_since has no previous CREATE here.
--
-- @tags detector, encryption
-- @param baseline_since timestamp = 15d: how far back to look for the previous write (inclusive)
-- @param since timestamp = 24h: start of the window, inclusive (ISO 8601, or a duration before until)
-- @param until timestamp = now: end of the window, exclusive
WITH touched AS (
    SELECT DISTINCT bucket, key
    FROM journal
    WHERE record_type = 'CREATE'
      AND record_timestamp >= :since
      AND record_timestamp < :until
),
writes AS (
    SELECT c.bucket, c.key, c.version_id, c.sequence_number, c.record_timestamp, c.encryption_status,
           c.kms_key_arn, c.e_tag, c.requester, c.source_ip_address,
           lag(c.encryption_status) OVER (PARTITION BY c.bucket, c.key ORDER BY c.sequence_number) AS previous_status,
           lag(c.kms_key_arn) OVER (PARTITION BY c.bucket, c.key ORDER BY c.sequence_number) AS previous_kms_key_arn,
           lag(c.e_tag) OVER (PARTITION BY c.bucket, c.key ORDER BY c.sequence_number) AS previous_e_tag,
           lag(c.sequence_number) OVER (PARTITION BY c.bucket, c.key ORDER BY c.sequence_number) AS previous_sequence_number,
           lag(c.record_timestamp) OVER (PARTITION BY c.bucket, c.key ORDER BY c.sequence_number) AS previous_timestamp
    FROM journal AS c
    JOIN touched AS t ON t.bucket = c.bucket AND t.key = c.key
    WHERE c.record_type = 'CREATE'
      AND c.record_timestamp >= :baseline_since
      AND c.record_timestamp < :until
),
ranked AS (
    SELECT *,
           CASE encryption_status WHEN 'DSSE-KMS' THEN 3 WHEN 'SSE-KMS' THEN 2 WHEN 'SSE-S3' THEN 1
                WHEN 'SSE-C' THEN 1 ELSE 0 END AS strength,
           CASE previous_status WHEN 'DSSE-KMS' THEN 3 WHEN 'SSE-KMS' THEN 2 WHEN 'SSE-S3' THEN 1
                WHEN 'SSE-C' THEN 1 ELSE 0 END AS previous_strength
    FROM writes
    WHERE record_timestamp >= :since
      AND previous_sequence_number IS NOT NULL
      AND e_tag IS NOT NULL
      AND previous_e_tag IS NOT NULL
)
SELECT bucket, key, version_id, sequence_number, record_timestamp, previous_status, encryption_status,
       previous_kms_key_arn, kms_key_arn, previous_timestamp, requester, source_ip_address,
       CASE WHEN strength < previous_strength THEN 'weaker' ELSE 'other_kms_key' END AS change
FROM ranked
WHERE strength < previous_strength
   OR (strength >= 2 AND previous_strength >= 2 AND kms_key_arn IS NOT NULL
       AND previous_kms_key_arn IS NOT NULL AND kms_key_arn <> previous_kms_key_arn)
ORDER BY record_timestamp, bucket, key, sequence_number
