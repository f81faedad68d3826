-- The state of each key touched in a time window: live, behind a delete marker, or deleted.
--
-- AWS example "understanding the current state of your objects", as the journal's version
-- stack. For each version (bucket, key, version_id; NULL-safe, so an unversioned key's
-- overwrites are one NULL version) the latest record by sequence_number is its tip; a version
-- whose tip is a permanent delete is gone. Of the versions left, the newest one (by the sequence
-- number of the CREATE or delete-marker record that made it) is the key's current version:
--   live          the current version is an object created in the window;
--   delete_marker the current version is a delete marker: GET fails, older versions may be
--                 restorable (see hidden_versions);
--   deleted       every version the window touched was deleted for good;
--   updated       only metadata changes (tags, Lifecycle transitions) to a version created
--                 before the window, which still exists; whether it is current is outside the
--                 window.
-- sequence_number orders the records of one bucket and key, and the latest record of a key
-- touched in the window is itself in the window, so only [since, until) is read, as AWS's cost
-- advice asks. Versions never touched in the window are not seen: a 'deleted' key can still have
-- older versions stored (the inventory, or key_version_history, tells). The last_* columns
-- describe the key's latest record; a permanent delete carries no requester or source IP.
-- Only records about objects are read: an annotation record (June 2026) changes no version, and
-- whether it shares the key's sequence_number space with them is not documented, so it could
-- otherwise be a version's "latest record" and hide that version's state. A key touched in the
-- window by annotation changes only is not listed (annotation_changes lists those).
--
-- @tags aws, state
-- @param since timestamp = 24h: start of the window, inclusive (ISO 8601, or a duration before until)
-- @param until timestamp = now: end of the window, exclusive
-- @param bucket bucket = null: only this bucket (all buckets when omitted)
WITH recent AS (
    SELECT bucket, key, version_id, sequence_number, record_type, record_timestamp,
           is_delete_marker, size, requester, source_ip_address
    FROM journal
    WHERE record_timestamp >= :since
      AND record_timestamp < :until
      AND (:bucket IS NULL OR bucket = :bucket)
      AND record_type IN ('CREATE', 'UPDATE_METADATA', 'DELETE')
),
stack AS (
    SELECT bucket, key, version_id, sequence_number, record_type, is_delete_marker, size,
           -- the record that made this version, when it is in the window
           max(CASE WHEN record_type = 'CREATE'
                      OR (record_type = 'DELETE' AND is_delete_marker = true)
                    THEN sequence_number END)
               OVER (PARTITION BY bucket, key, version_id) AS made_by,
           row_number() OVER (PARTITION BY bucket, key, version_id
                              ORDER BY sequence_number DESC) AS from_tip
    FROM recent
),
survivors AS (
    SELECT bucket, key, version_id, record_type, size, made_by,
           row_number() OVER (PARTITION BY bucket, key
                              ORDER BY made_by DESC NULLS LAST, sequence_number DESC) AS newest
    FROM stack
    WHERE from_tip = 1
      AND NOT (record_type = 'DELETE' AND coalesce(is_delete_marker, false) = false)
),
latest AS (
    SELECT bucket, key, sequence_number, record_type, record_timestamp, requester, source_ip_address,
           row_number() OVER (PARTITION BY bucket, key ORDER BY sequence_number DESC) AS from_last
    FROM recent
),
counts AS (
    SELECT bucket, key,
           count(CASE WHEN record_type = 'CREATE' THEN 1 END) AS creates,
           count(CASE WHEN record_type = 'UPDATE_METADATA' THEN 1 END) AS metadata_updates,
           count(CASE WHEN record_type = 'DELETE' AND is_delete_marker = true THEN 1 END) AS delete_markers,
           count(CASE WHEN record_type = 'DELETE' AND coalesce(is_delete_marker, false) = false
                      THEN 1 END) AS permanent_deletes
    FROM recent
    GROUP BY bucket, key
)
SELECT l.bucket, l.key,
       CASE WHEN s.bucket IS NULL THEN 'deleted'
            WHEN s.made_by IS NULL THEN 'updated'
            WHEN s.record_type = 'DELETE' THEN 'delete_marker'
            ELSE 'live' END AS state,
       s.version_id AS current_version_id,
       CASE WHEN s.record_type = 'DELETE' THEN NULL ELSE s.size END AS current_size,
       l.sequence_number AS last_sequence_number,
       l.record_type AS last_record_type,
       l.record_timestamp AS last_record_timestamp,
       l.requester AS last_requester,
       l.source_ip_address AS last_source_ip_address,
       c.creates, c.metadata_updates, c.delete_markers, c.permanent_deletes
FROM latest AS l
JOIN counts AS c ON c.bucket = l.bucket AND c.key = l.key
LEFT JOIN survivors AS s ON s.bucket = l.bucket AND s.key = l.key AND s.newest = 1
WHERE l.from_last = 1
ORDER BY l.bucket, l.key
