-- Writes and tag changes in a window, each set against the state it replaced.
--
-- Evidence for the report's rewrite detectors (s3meta report: encryption_downgrade,
-- sse_c_ransomware, destructive_overwrite, tag_tampering), read in one pass: the journal is
-- looked back through once, from baseline_since, for the keys the window touched.
--
-- A CREATE in the half-open window [since, until) is compared with the previous CREATE or
-- UPDATE_METADATA record of the same bucket and key (by sequence_number): the object it replaced,
-- whose size and encryption an UPDATE_METADATA record carries too. Strength ranks: unencrypted 0,
-- SSE-C 1, SSE-S3 1, SSE-KMS 2, DSSE-KMS 3. It is kept when
--   * the new rank is lower (change = 'weaker'), or both are KMS-encrypted with different, known
--     key ARNs (change = 'other_kms_key');
--   * it is stored with SSE-C, new key or not (customer-provided keys: unreadable without the
--     writer's key; overwrite is false and the previous_* columns NULL for a new key);
--   * it replaced an object at least ten times its size (0 bytes included).
-- An UPDATE_METADATA in the window made by an account (not an AWS service principal such as S3
-- Lifecycle or GuardDuty) is compared with the previous record of the same version. It is kept when
-- the previous tags had keys the new ones lack (removed_tags; PutObjectTagging replaces the whole
-- set), or when the previous GuardDutyMalwareScanStatus, the tag GuardDuty Malware Protection
-- writes, was THREATS_FOUND and the new one is not (NULL when the tag was removed). array_join is
-- Trino's; the DuckDB engine supplies it as a macro.
--
-- S3 Lifecycle's records are left out of the history (its transitions change neither content nor
-- tags). Records whose version had vanished when S3 Metadata processed them carry NULL object
-- columns (AWS's NULL rule): a write with a NULL e_tag is left out, and a previous one with a NULL
-- e_tag makes no overwrite. An object last written before baseline_since has no previous record
-- here. The tag is read only after contains(map_keys(...)) found it: on Athena a missing map key
-- fails the query.
--
-- @tags detector, encryption, tags
-- @param baseline_since timestamp = 15d: how far back to look for the previous record (inclusive)
-- @param since timestamp = 24h: start of the window, inclusive (ISO 8601, or a duration before until)
-- @param until timestamp = now: end of the window, exclusive
WITH touched AS (
    SELECT DISTINCT bucket, key
    FROM journal
    WHERE record_timestamp >= :since
      AND record_timestamp < :until
      AND (record_type = 'CREATE'
           OR (record_type = 'UPDATE_METADATA' AND strpos(coalesce(requester, ''), '.amazonaws.com') = 0))
),
history AS (
    SELECT h.bucket, h.key, h.version_id, h.sequence_number, h.record_type, h.record_timestamp, h.e_tag, h.size,
           h.encryption_status, h.kms_key_arn, h.object_tags, h.requester, h.source_ip_address,
           CASE WHEN contains(map_keys(h.object_tags), 'GuardDutyMalwareScanStatus')
                THEN h.object_tags['GuardDutyMalwareScanStatus'] END AS verdict
    FROM journal AS h
    JOIN touched AS t ON t.bucket = h.bucket AND t.key = h.key
    -- CREATE and UPDATE_METADATA (a DELETE record is no object state; annotation records are not the
    -- object's). Written as two exclusions rather than IN (...): DuckDB estimates an IN list as
    -- selective, builds its hash join on the journal instead of on the touched keys, and runs twice as long.
    WHERE h.record_type <> 'DELETE'
      AND h.record_type NOT LIKE '%ANNOTATION%'
      AND h.record_timestamp >= :baseline_since
      AND h.record_timestamp < :until
      AND coalesce(h.requester, '') <> 's3.amazonaws.com'
),
paired AS (
    -- Partitioned by key, a CREATE's lag is the state of the object it replaced; partitioned by
    -- version, a tag change's lag is that version's previous record.
    SELECT history.*,
           lag(e_tag) OVER (PARTITION BY bucket, key ORDER BY sequence_number) AS replaced_e_tag,
           lag(size) OVER (PARTITION BY bucket, key ORDER BY sequence_number) AS replaced_size,
           lag(encryption_status) OVER (PARTITION BY bucket, key ORDER BY sequence_number)
               AS replaced_status,
           lag(kms_key_arn) OVER (PARTITION BY bucket, key ORDER BY sequence_number)
               AS replaced_kms_key_arn,
           lag(record_timestamp) OVER (PARTITION BY bucket, key ORDER BY sequence_number)
               AS replaced_timestamp,
           lag(e_tag) OVER (PARTITION BY bucket, key, version_id ORDER BY sequence_number) AS previous_e_tag,
           lag(object_tags) OVER (PARTITION BY bucket, key, version_id ORDER BY sequence_number) AS previous_tags,
           lag(verdict) OVER (PARTITION BY bucket, key, version_id ORDER BY sequence_number) AS previous_verdict,
           lag(requester) OVER (PARTITION BY bucket, key, version_id ORDER BY sequence_number) AS previous_requester,
           lag(record_timestamp) OVER (PARTITION BY bucket, key, version_id ORDER BY sequence_number)
               AS previous_timestamp
    FROM history
),
ranked AS (
    SELECT *,
           record_type = 'CREATE' AND replaced_e_tag IS NOT NULL AS overwrite,
           CASE encryption_status WHEN 'DSSE-KMS' THEN 3 WHEN 'SSE-KMS' THEN 2 WHEN 'SSE-S3' THEN 1
                WHEN 'SSE-C' THEN 1 ELSE 0 END AS strength,
           CASE replaced_status WHEN 'DSSE-KMS' THEN 3 WHEN 'SSE-KMS' THEN 2 WHEN 'SSE-S3' THEN 1
                WHEN 'SSE-C' THEN 1 ELSE 0 END AS previous_strength
    FROM paired
    WHERE record_timestamp >= :since
      AND e_tag IS NOT NULL
),
changed AS (
    SELECT *,
           CASE WHEN overwrite AND strength < previous_strength THEN 'weaker'
                WHEN overwrite AND strength >= 2 AND previous_strength >= 2 AND kms_key_arn IS NOT NULL
                     AND replaced_kms_key_arn IS NOT NULL AND kms_key_arn <> replaced_kms_key_arn
                     THEN 'other_kms_key'
           END AS change,
           -- The tag keys the version lost, sorted and comma-separated (S3 tag keys cannot hold a comma).
           CASE WHEN record_type = 'UPDATE_METADATA' AND previous_e_tag IS NOT NULL
                THEN array_join(array_sort(filter(map_keys(previous_tags), k -> NOT contains(map_keys(object_tags), k))),
                                ',') END AS removed_tags
    FROM ranked
)
SELECT bucket, key, version_id, sequence_number, record_type, record_timestamp, requester, source_ip_address,
       change, overwrite,
       size, CASE WHEN overwrite THEN replaced_size END AS previous_size,
       encryption_status, CASE WHEN overwrite THEN replaced_status END AS previous_status,
       kms_key_arn, CASE WHEN overwrite THEN replaced_kms_key_arn END AS previous_kms_key_arn,
       removed_tags, verdict,
       CASE WHEN record_type = 'UPDATE_METADATA' THEN previous_verdict END AS previous_verdict,
       CASE WHEN record_type = 'UPDATE_METADATA' THEN previous_requester END AS previous_requester,
       CASE WHEN record_type = 'CREATE' THEN replaced_timestamp ELSE previous_timestamp END
           AS previous_timestamp
FROM changed
WHERE (record_type = 'CREATE'
       AND (change IS NOT NULL
            OR encryption_status = 'SSE-C'
            OR (overwrite AND replaced_size > 0 AND size * 10 <= replaced_size)))
   OR (record_type = 'UPDATE_METADATA'
       AND strpos(coalesce(requester, ''), '.amazonaws.com') = 0
       AND (removed_tags <> ''
            OR (previous_verdict = 'THREATS_FOUND' AND coalesce(verdict, '') <> 'THREATS_FOUND')))
ORDER BY record_timestamp, bucket, key, sequence_number
