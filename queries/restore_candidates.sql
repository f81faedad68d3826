-- Every journal and inventory record of the keys on which an actor placed delete markers.
--
-- The input of the restore plan (`s3meta restore-plan`, analytics.restore): for the delete
-- markers placed in the half-open window [since, until), optionally only those of one requester
-- or source IP and one bucket, every journal record and every inventory row of the same bucket
-- and key, whatever their time, with `selected` marking the chosen markers. The per-key
-- reasoning (which version each marker hides, which markers are still current) is done in Python,
-- where it can be read and tested; this query only gathers the evidence, on either engine.
-- Only records about objects are gathered: an annotation record (June 2026) neither makes nor
-- removes a version.
--
-- @tags restore, deletes
-- @param since timestamp = 24h: start of the window, inclusive (ISO 8601, or a duration before until)
-- @param until timestamp = now: end of the window, exclusive
-- @param bucket bucket = null: only this bucket (all buckets when omitted)
-- @param requester requester = null: only markers placed by this account or principal
-- @param ip ip = null: only markers placed from this source IP address
WITH markers AS (
    SELECT bucket, key, sequence_number
    FROM journal
    WHERE record_type = 'DELETE'
      AND is_delete_marker = true
      AND record_timestamp >= :since
      AND record_timestamp < :until
      AND (:bucket IS NULL OR bucket = :bucket)
      AND (:requester IS NULL OR requester = :requester)
      AND (:ip IS NULL OR source_ip_address = :ip)
),
touched AS (
    SELECT DISTINCT bucket, key FROM markers
)
SELECT 'journal' AS source, j.bucket, j.key, j.sequence_number, j.record_type, j.version_id,
       j.is_delete_marker, j.record_timestamp, j.requester, j.source_ip_address, j.size,
       j.last_modified_date, j.storage_class,
       m.sequence_number IS NOT NULL AS selected
FROM journal AS j
JOIN touched AS t ON t.bucket = j.bucket AND t.key = j.key
LEFT JOIN markers AS m ON m.bucket = j.bucket AND m.key = j.key AND m.sequence_number = j.sequence_number
WHERE j.record_type IN ('CREATE', 'UPDATE_METADATA', 'DELETE')
UNION ALL
SELECT 'inventory' AS source, i.bucket, i.key, i.sequence_number, CAST(NULL AS varchar), i.version_id,
       i.is_delete_marker, CAST(NULL AS timestamp), CAST(NULL AS varchar), CAST(NULL AS varchar), i.size,
       i.last_modified_date, i.storage_class,
       false AS selected
FROM inventory AS i
JOIN touched AS t ON t.bucket = i.bucket AND t.key = i.key
ORDER BY bucket, key, sequence_number, source
