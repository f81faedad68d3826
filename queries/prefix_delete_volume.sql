-- Deletes in a window by top-level prefix, with the bytes they removed, most deletes first.
--
-- STG302 workshop query "prefixes that lost the most data", corrected. The workshop joins
-- deletes to the live inventory for sizes, but the inventory drops a version once it is
-- permanently deleted, so that join reports 0 MB for exactly the deletes that matter. Here the
-- size comes from the journal's own CREATE record of the same bucket, key and version (NULL-safe,
-- since unversioned objects have a NULL version_id; for an overwritten unversioned key, the
-- latest CREATE before the delete), falling back to the inventory for objects created before
-- the journal began.
--
-- How deletes count: delete_count counts every DELETE record. A delete marker counts as a
-- delete but removes 0 bytes: its version_id is the marker's own, and the version it hides stays
-- stored and restorable (see the restore plan). A permanent delete of a delete marker also
-- frees 0 bytes. total_capacity_deleted_in_mb is in MiB (1024 * 1024 bytes), rounded to 2 places.
-- top_level_prefix is the key up to its first '/', or the whole key when it has none.
--
-- @tags workshop, deletes
-- @param since timestamp = 24h: start of the window, inclusive (ISO 8601, or a duration before until)
-- @param until timestamp = now: end of the window, exclusive
-- @param bucket bucket = null: only this bucket (all buckets when omitted)
WITH deletes AS (
    SELECT bucket, key, version_id, sequence_number
    FROM journal
    WHERE record_type = 'DELETE'
      AND record_timestamp >= :since
      AND record_timestamp < :until
      AND (:bucket IS NULL OR bucket = :bucket)
),
created AS (
    -- The CREATE that wrote the deleted version: the latest one before the delete. Ranked with
    -- row_number rather than max_by, whose NULL handling differs (DuckDB skips a NULL size,
    -- Trino returns it).
    SELECT bucket, key, sequence_number, size
    FROM (
        SELECT d.bucket, d.key, d.sequence_number, c.size,
               row_number() OVER (PARTITION BY d.bucket, d.key, d.sequence_number
                                  ORDER BY c.sequence_number DESC) AS rank
        FROM deletes AS d
        JOIN journal AS c
          ON c.bucket = d.bucket
         AND c.key = d.key
         AND c.version_id IS NOT DISTINCT FROM d.version_id
         AND c.sequence_number < d.sequence_number
        WHERE c.record_type = 'CREATE'
          AND c.record_timestamp < :until
    ) AS ranked
    WHERE rank = 1
)
SELECT CASE WHEN strpos(d.key, '/') > 0 THEN substr(d.key, 1, strpos(d.key, '/') - 1) ELSE d.key END
           AS top_level_prefix,
       count(*) AS delete_count,
       round(CAST(sum(coalesce(c.size, i.size, 0)) AS DOUBLE) / 1048576.0, 2)
           AS total_capacity_deleted_in_mb
FROM deletes AS d
LEFT JOIN created AS c
  ON c.bucket = d.bucket AND c.key = d.key AND c.sequence_number = d.sequence_number
-- The inventory still holds a version the journal never saw created (backfilled objects), until
-- the delete reaches it; an inventory row written after the delete is a later object, not this one.
LEFT JOIN inventory AS i
  ON i.bucket = d.bucket
 AND i.key = d.key
 AND i.version_id IS NOT DISTINCT FROM d.version_id
 AND i.sequence_number < d.sequence_number
 AND coalesce(i.is_delete_marker, false) = false
GROUP BY 1
ORDER BY delete_count DESC, top_level_prefix
