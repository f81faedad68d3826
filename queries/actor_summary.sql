-- Who did what in a time window: per requester and source IP, counts by kind of change.
--
-- One row per (requester, source_ip_address) with CREATE, UPDATE_METADATA, delete-marker and
-- permanent-delete counts, bytes uploaded, distinct keys and first and last record times, over
-- the half-open window [since, until); most records first. NULL groups are kept: S3 and other
-- AWS services act with a NULL source IP (S3 Lifecycle as requester s3.amazonaws.com), and a
-- permanent delete carries NULL requester and IP (AWS's rule), so all permanent deletes land in
-- the (NULL, NULL) row, whoever made them. distinct_keys counts (bucket, key) pairs.
-- record_count, the kinds, distinct_keys and first/last_seen are about objects; annotation events
-- (since June 2026) are counted apart, in annotation_changes and annotation_deletes, so an actor
-- that only touched annotations shows with record_count 0.
--
-- @tags analyst, actors
-- @param since timestamp = 24h: start of the window, inclusive (ISO 8601, or a duration before until)
-- @param until timestamp = now: end of the window, exclusive
-- @param bucket bucket = null: only this bucket (all buckets when omitted)
WITH records AS (
    SELECT requester, source_ip_address, record_type, is_delete_marker, size, bucket, key, record_timestamp,
           record_type IN ('CREATE', 'UPDATE_METADATA', 'DELETE') AS about_object
    FROM journal
    WHERE record_timestamp >= :since
      AND record_timestamp < :until
      AND (:bucket IS NULL OR bucket = :bucket)
)
SELECT requester,
       source_ip_address,
       count(CASE WHEN about_object THEN 1 END) AS record_count,
       count(CASE WHEN record_type = 'CREATE' THEN 1 END) AS creates,
       count(CASE WHEN record_type = 'UPDATE_METADATA' THEN 1 END) AS metadata_updates,
       count(CASE WHEN record_type = 'DELETE' AND is_delete_marker = true THEN 1 END) AS delete_markers,
       count(CASE WHEN record_type = 'DELETE' AND coalesce(is_delete_marker, false) = false
                  THEN 1 END) AS permanent_deletes,
       CAST(coalesce(sum(CASE WHEN record_type = 'CREATE' THEN size END), 0) AS BIGINT) AS bytes_created,
       -- a bucket name cannot contain '/', so bucket || '/' || key names one object key
       count(DISTINCT CASE WHEN about_object THEN bucket || '/' || key END) AS distinct_keys,
       min(CASE WHEN about_object THEN record_timestamp END) AS first_seen,
       max(CASE WHEN about_object THEN record_timestamp END) AS last_seen,
       count(CASE WHEN record_type IN ('CREATE_ANNOTATION', 'DELETE_ANNOTATION', 'UPDATE_ANNOTATION_METADATA') THEN 1 END) AS annotation_changes,
       count(CASE WHEN record_type = 'DELETE_ANNOTATION' THEN 1 END) AS annotation_deletes
FROM records
GROUP BY requester, source_ip_address
ORDER BY record_count DESC, requester NULLS FIRST, source_ip_address NULLS FIRST
