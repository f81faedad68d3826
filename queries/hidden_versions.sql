-- For each delete marker placed in a time window, the stored version it hides: a restore plan.
--
-- A delete marker hides a key without removing its versions; deleting the marker (or copying
-- the hidden version over it) restores the key. For each marker in the half-open window
-- [since, until), optionally only those of one requester or source IP, this finds the latest
-- version of the same bucket and key in the live inventory that is not itself a delete marker
-- and whose sequence_number is below the marker's. A marker that hides nothing still in the
-- inventory (the versions below it were deleted for good) shows NULL hidden_* columns; a
-- marker stacked on another marker hides the same version. Limits: the inventory lags the
-- journal by up to about an hour, so a version deleted for good very recently may still be
-- listed; and the inventory's sequence_number is that of the version's latest record, so a
-- version whose metadata changed after the marker was placed (a Lifecycle transition of the
-- now-noncurrent version, for one) sorts above the marker and is not offered. A hidden version
-- in GLACIER or DEEP_ARCHIVE must be restored from archive before it can be copied.
--
-- @tags analyst, deletes, restore
-- @param since timestamp = 24h: start of the window, inclusive (ISO 8601, or a duration before until)
-- @param until timestamp = now: end of the window, exclusive
-- @param bucket bucket = null: only this bucket (all buckets when omitted)
-- @param requester requester = null: only markers placed by this account or principal (all when omitted)
-- @param ip ip = null: only markers placed from this source IP address (all when omitted)
WITH markers AS (
    SELECT bucket, key, version_id, sequence_number, record_timestamp, requester, source_ip_address
    FROM journal
    WHERE record_type = 'DELETE'
      AND is_delete_marker = true
      AND record_timestamp >= :since
      AND record_timestamp < :until
      AND (:bucket IS NULL OR bucket = :bucket)
      AND (:requester IS NULL OR requester = :requester)
      AND (:ip IS NULL OR source_ip_address = :ip)
),
candidates AS (
    SELECT m.bucket, m.key, m.sequence_number AS marker_sequence_number,
           i.version_id, i.size, i.last_modified_date, i.storage_class,
           row_number() OVER (PARTITION BY m.bucket, m.key, m.sequence_number
                              ORDER BY i.sequence_number DESC) AS newest
    FROM markers AS m
    JOIN inventory AS i
      ON i.bucket = m.bucket
     AND i.key = m.key
     AND i.sequence_number < m.sequence_number
    WHERE coalesce(i.is_delete_marker, false) = false
)
SELECT m.bucket, m.key,
       m.version_id AS delete_marker_version_id,
       m.record_timestamp AS marker_at,
       m.requester,
       m.source_ip_address,
       c.version_id AS hidden_version_id,
       c.size AS hidden_size,
       c.last_modified_date AS hidden_last_modified_date,
       c.storage_class AS hidden_storage_class,
       m.sequence_number AS marker_sequence_number
FROM markers AS m
LEFT JOIN candidates AS c
  ON c.bucket = m.bucket AND c.key = m.key AND c.marker_sequence_number = m.sequence_number
 AND c.newest = 1
ORDER BY m.record_timestamp DESC, m.bucket, m.key, m.sequence_number DESC
