-- For each delete marker placed in a time window, the stored version it hides: a restore plan.
--
-- A delete marker hides a key without removing its versions; deleting the marker (or copying
-- the hidden version over it) restores the key. For each marker in the half-open window
-- [since, until), optionally only those of one requester or source IP, this finds the newest
-- version of the same bucket and key in the live inventory that is not itself a delete marker
-- and was made before the marker. Versions are ordered as the restore plan orders them, by the
-- journal's CREATE of each (at any time: one key's records are few); a version the journal never
-- saw created is older than the journal, so below every marker in it, and such versions rank by
-- last_modified_date. The inventory's own sequence_number does not order them: it is that of the
-- version's latest record, so a tag change or Lifecycle transition after the marker (and, if AWS
-- counts them, an annotation change) would move the version above it. A marker that hides
-- nothing still in the inventory (the versions below it were deleted for good) shows NULL
-- hidden_* columns; a marker stacked on another marker hides the same version. Limit: the
-- inventory lags the journal by up to about an hour, so a version deleted for good very recently
-- may still be listed. A hidden version in GLACIER or DEEP_ARCHIVE must be restored from archive
-- before it can be copied.
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
created AS (
    -- The CREATE that made each version of the marked keys (for a null version re-written
    -- several times, the latest: the inventory holds that one).
    SELECT c.bucket, c.key, c.version_id, max(c.sequence_number) AS created_sequence_number
    FROM journal AS c
    JOIN (SELECT DISTINCT bucket, key FROM markers) AS t ON t.bucket = c.bucket AND t.key = c.key
    WHERE c.record_type = 'CREATE'
    GROUP BY c.bucket, c.key, c.version_id
),
candidates AS (
    SELECT m.bucket, m.key, m.sequence_number AS marker_sequence_number,
           i.version_id, i.size, i.last_modified_date, i.storage_class,
           row_number() OVER (PARTITION BY m.bucket, m.key, m.sequence_number
                              ORDER BY c.created_sequence_number DESC NULLS LAST,
                                       i.last_modified_date DESC NULLS LAST, i.sequence_number DESC) AS newest
    FROM markers AS m
    JOIN inventory AS i
      ON i.bucket = m.bucket
     AND i.key = m.key
    LEFT JOIN created AS c
      ON c.bucket = i.bucket
     AND c.key = i.key
     AND c.version_id IS NOT DISTINCT FROM i.version_id
    WHERE coalesce(i.is_delete_marker, false) = false
      AND (c.created_sequence_number IS NULL OR c.created_sequence_number < m.sequence_number)
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
