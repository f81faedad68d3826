-- Delete markers placed in a time window, per requester and source IP: the ransomware pattern.
--
-- A burst of delete markers from one account or address hides many keys at once while keeping
-- their versions restorable. One row per (requester, source_ip_address) with the number of
-- markers, distinct keys and buckets, and the first and last marker time, over the half-open
-- window [since, until); most markers first. Only delete markers count (is_delete_marker TRUE):
-- permanent deletes carry no requester or IP (AWS's rule; see recent_deletes). S3 Lifecycle
-- expirations appear as requester s3.amazonaws.com with a NULL source IP.
--
-- @tags analyst, deletes, actors
-- @param since timestamp = 24h: start of the window, inclusive (ISO 8601, or a duration before until)
-- @param until timestamp = now: end of the window, exclusive
-- @param bucket bucket = null: only this bucket (all buckets when omitted)
SELECT requester,
       source_ip_address,
       count(*) AS delete_markers,
       -- a bucket name cannot contain '/', so bucket || '/' || key names one object key
       count(DISTINCT bucket || '/' || key) AS distinct_keys,
       count(DISTINCT bucket) AS buckets,
       min(record_timestamp) AS first_marker_at,
       max(record_timestamp) AS last_marker_at
FROM journal
WHERE record_type = 'DELETE'
  AND is_delete_marker = true
  AND record_timestamp >= :since
  AND record_timestamp < :until
  AND (:bucket IS NULL OR bucket = :bucket)
GROUP BY requester, source_ip_address
ORDER BY delete_markers DESC, requester NULLS FIRST, source_ip_address NULLS FIRST
