-- Writes in a window set against the state they replaced: SSE-C rewrites, shrunken objects, stripped tags.
--
-- Evidence for the report's rewrite detectors (s3meta report: sse_c_ransomware,
-- destructive_overwrite, tag_tampering). Each CREATE and UPDATE_METADATA record in the half-open
-- window [since, until) is set against the record before it for the same bucket and key (by
-- sequence_number, looked for from baseline_since): the object state it replaced. S3 Lifecycle's
-- records are left out on both sides (its transitions change neither content nor tags). A record
-- is kept when it is
--   * a CREATE stored with SSE-C, new key or not (previous_* columns are NULL for a new key);
--   * a CREATE over a key whose previous size was at least ten times its own (0 bytes included);
--   * an UPDATE_METADATA of the same version that dropped a tag key, or that changed a
--     GuardDutyMalwareScanStatus of THREATS_FOUND (the tag GuardDuty Malware Protection writes).
-- A tag key is dropped when the previous tag map has a key the new one lacks, which
-- cardinality(map_concat(new, previous)) > cardinality(new) tells on both engines. Records whose
-- version had vanished when S3 Metadata processed them carry NULL object columns (AWS's NULL
-- rule) and are left out; an object last written before baseline_since has no previous record
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
    WHERE record_type IN ('CREATE', 'UPDATE_METADATA')
      AND record_timestamp >= :since
      AND record_timestamp < :until
      AND coalesce(requester, '') <> 's3.amazonaws.com'
),
history AS (
    SELECT h.bucket, h.key, h.version_id, h.sequence_number, h.record_type, h.record_timestamp, h.size,
           h.e_tag, h.encryption_status, h.kms_key_arn, h.object_tags, h.requester, h.source_ip_address,
           CASE WHEN contains(map_keys(h.object_tags), 'GuardDutyMalwareScanStatus')
                THEN h.object_tags['GuardDutyMalwareScanStatus'] END AS verdict
    FROM journal AS h
    JOIN touched AS t ON t.bucket = h.bucket AND t.key = h.key
    WHERE h.record_type IN ('CREATE', 'UPDATE_METADATA')
      AND h.record_timestamp >= :baseline_since
      AND h.record_timestamp < :until
      AND coalesce(h.requester, '') <> 's3.amazonaws.com'
),
paired AS (
    SELECT history.*,
           lag(version_id) OVER (PARTITION BY bucket, key ORDER BY sequence_number) AS previous_version_id,
           lag(sequence_number) OVER (PARTITION BY bucket, key ORDER BY sequence_number) AS previous_sequence_number,
           lag(record_timestamp) OVER (PARTITION BY bucket, key ORDER BY sequence_number) AS previous_timestamp,
           lag(size) OVER (PARTITION BY bucket, key ORDER BY sequence_number) AS previous_size,
           lag(e_tag) OVER (PARTITION BY bucket, key ORDER BY sequence_number) AS previous_e_tag,
           lag(encryption_status) OVER (PARTITION BY bucket, key ORDER BY sequence_number) AS previous_status,
           lag(kms_key_arn) OVER (PARTITION BY bucket, key ORDER BY sequence_number) AS previous_kms_key_arn,
           lag(object_tags) OVER (PARTITION BY bucket, key ORDER BY sequence_number) AS previous_tags,
           lag(verdict) OVER (PARTITION BY bucket, key ORDER BY sequence_number) AS previous_verdict,
           lag(requester) OVER (PARTITION BY bucket, key ORDER BY sequence_number) AS previous_requester
    FROM history
)
SELECT bucket, key, version_id, sequence_number, record_type, record_timestamp, requester, source_ip_address,
       size, previous_size, encryption_status, previous_status, kms_key_arn, previous_kms_key_arn,
       object_tags, previous_tags, verdict, previous_verdict, previous_version_id, previous_sequence_number,
       previous_timestamp, previous_requester,
       previous_e_tag IS NOT NULL AS overwrite
FROM paired
WHERE record_timestamp >= :since
  AND e_tag IS NOT NULL
  AND ((record_type = 'CREATE' AND encryption_status = 'SSE-C')
       OR (record_type = 'CREATE' AND previous_e_tag IS NOT NULL AND previous_size > 0
           AND size * 10 <= previous_size)
       OR (record_type = 'UPDATE_METADATA' AND previous_e_tag IS NOT NULL
           AND previous_version_id IS NOT DISTINCT FROM version_id
           AND object_tags IS NOT NULL AND previous_tags IS NOT NULL
           AND (cardinality(map_concat(object_tags, previous_tags)) > cardinality(object_tags)
                OR (previous_verdict = 'THREATS_FOUND' AND coalesce(verdict, '') <> 'THREATS_FOUND'))))
ORDER BY record_timestamp, bucket, key, sequence_number
