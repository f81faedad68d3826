-- Who did what in a time window: per requester and source IP, counts by kind of change.
--
-- One row per (requester, source_ip_address) with CREATE, UPDATE_METADATA, delete-marker and
-- permanent-delete counts, bytes uploaded, distinct keys and first and last record times, over
-- the half-open window [since, until); most records first. NULL groups are kept: S3 and other
-- AWS services act with a NULL source IP (S3 Lifecycle as requester s3.amazonaws.com), and a
-- permanent delete carries NULL requester and IP (AWS's rule), so all permanent deletes land in
-- the (NULL, NULL) row, whoever made them. distinct_keys counts (bucket, key) pairs.
--
-- @tags analyst, actors
-- @param since timestamp = 24h: start of the window, inclusive (ISO 8601, or a duration before until)
-- @param until timestamp = now: end of the window, exclusive
-- @param bucket bucket = null: only this bucket (all buckets when omitted)
SELECT requester,
       source_ip_address,
       count(*) AS record_count,
       count(CASE WHEN record_type = 'CREATE' THEN 1 END) AS creates,
       count(CASE WHEN record_type = 'UPDATE_METADATA' THEN 1 END) AS metadata_updates,
       count(CASE WHEN record_type = 'DELETE' AND is_delete_marker = true THEN 1 END) AS delete_markers,
       count(CASE WHEN record_type = 'DELETE' AND coalesce(is_delete_marker, false) = false
                  THEN 1 END) AS permanent_deletes,
       CAST(coalesce(sum(CASE WHEN record_type = 'CREATE' THEN size END), 0) AS BIGINT) AS bytes_created,
       -- a bucket name cannot contain '/', so bucket || '/' || key names one object key
       count(DISTINCT bucket || '/' || key) AS distinct_keys,
       min(record_timestamp) AS first_seen,
       max(record_timestamp) AS last_seen
FROM journal
WHERE record_timestamp >= :since
  AND record_timestamp < :until
  AND (:bucket IS NULL OR bucket = :bucket)
GROUP BY requester, source_ip_address
ORDER BY record_count DESC, requester NULLS FIRST, source_ip_address NULLS FIRST
