-- Journal activity over a report window and its baseline, aggregated in one scan for the detectors.
--
-- The scheduled report's main query (s3meta report): one pass over the journal from baseline_since
-- to until, grouped four ways at once with GROUPING SETS, so every statistical detector reads this
-- small result instead of the journal. The column `grain` says which grouping a row belongs to:
--   prefix     bucket, top-level prefix, kind, actor_class, hour, in_window (delete spikes, charts)
--   requester  bucket, requester, kind, hour, in_window (mass deletes, change surges per account)
--   ip         bucket, delete_ip, kms_key_arn, kind, hour, in_window (mass deletes per address, and
--              the KMS keys writes used; delete_ip is the source IP of DELETE records only and
--              kms_key_arn is NULL on them, so the grouping stays small)
--   pair       bucket, requester, source IP, in_window, with first and last sighting (new actors)
-- Columns a grouping does not use are NULL there. `kind` is CREATE, UPDATE_METADATA, DELETE_MARKER
-- or DELETE (a permanent delete). `actor_class` follows AWS's NULL rules: a permanent delete carries
-- no requester or IP (unattributed), S3 Lifecycle acts as s3.amazonaws.com (lifecycle), other AWS
-- service principals end in .amazonaws.com (service, e.g. GuardDuty's tag writes), and anything
-- else is an account ID (user). top_level_prefix is the key up to and including its first '/', or ''
-- for a key without one. `hour` is the record's hour (UTC); in_window is record_timestamp >= since.
-- kms_events counts the rows encrypted with SSE-KMS or DSSE-KMS: on CREATE rows of the prefix grain,
-- it tells a prefix whose every upload used KMS (the report infers an encryption rule from it).
-- sse_c_events counts the rows stored with SSE-C (customer-provided keys): the baseline's SSE-C
-- writes per prefix, against which a ransomware rewrite stands out.
-- Only records about objects are counted: annotation events (June 2026) are neither uploads nor
-- deletes, and would swell the activity baselines, the new-actor sightings and the charts; the
-- annotation detector reads them with a query of its own.
--
-- @tags detector
-- @param baseline_since timestamp = 15d: start of the baseline, inclusive (ISO 8601, or a duration before until)
-- @param since timestamp = 24h: start of the report window, inclusive; the baseline ends here
-- @param until timestamp = now: end of the report window, exclusive
WITH j AS (
    SELECT bucket,
           CASE WHEN strpos(key, '/') > 0 THEN substr(key, 1, strpos(key, '/')) ELSE '' END AS top_level_prefix,
           requester,
           source_ip_address,
           CASE WHEN record_type = 'DELETE' THEN source_ip_address END AS delete_ip,
           CASE WHEN record_type = 'DELETE' AND is_delete_marker THEN 'DELETE_MARKER' ELSE record_type END AS kind,
           CASE WHEN requester IS NULL THEN 'unattributed'
                WHEN requester = 's3.amazonaws.com' THEN 'lifecycle'
                WHEN strpos(requester, '.amazonaws.com') > 0 THEN 'service'
                ELSE 'user' END AS actor_class,
           date_trunc('hour', record_timestamp) AS hour,
           CASE WHEN encryption_status IN ('SSE-KMS', 'DSSE-KMS') THEN 1 ELSE 0 END AS kms,
           CASE WHEN encryption_status = 'SSE-C' THEN 1 ELSE 0 END AS sse_c,
           kms_key_arn,
           record_timestamp
    FROM journal
    WHERE record_timestamp >= :baseline_since
      AND record_timestamp < :until
      AND record_type IN ('CREATE', 'UPDATE_METADATA', 'DELETE')
),
-- Which side of `since` a record falls on, told by two WHERE clauses: Athena takes execution
-- parameters only there, not in a SELECT list. The engines push both filters into the scan, so
-- each record is still read once.
marked AS (
    SELECT j.*, false AS in_window FROM j WHERE record_timestamp < :since
    UNION ALL
    SELECT j.*, true AS in_window FROM j WHERE record_timestamp >= :since
)
SELECT CASE grouping(top_level_prefix, actor_class, requester, source_ip_address, delete_ip, kms_key_arn, hour)
           WHEN 30 THEN 'prefix' WHEN 110 THEN 'requester' WHEN 120 THEN 'ip' ELSE 'pair' END AS grain,
       bucket, top_level_prefix, requester, source_ip_address, delete_ip, kms_key_arn, kind, actor_class, hour,
       in_window,
       count(*) AS events,
       CAST(sum(kms) AS BIGINT) AS kms_events,
       CAST(sum(sse_c) AS BIGINT) AS sse_c_events,
       min(record_timestamp) AS first_seen,
       max(record_timestamp) AS last_seen
FROM marked
GROUP BY GROUPING SETS (
    (bucket, top_level_prefix, kind, actor_class, hour, in_window),
    (bucket, requester, kind, hour, in_window),
    (bucket, delete_ip, kms_key_arn, kind, hour, in_window),
    (bucket, requester, source_ip_address, in_window)
)
ORDER BY grain, bucket, top_level_prefix NULLS FIRST, requester NULLS FIRST, source_ip_address NULLS FIRST,
         delete_ip NULLS FIRST, kms_key_arn NULLS FIRST, kind NULLS FIRST, actor_class NULLS FIRST, hour NULLS FIRST, in_window NULLS FIRST
