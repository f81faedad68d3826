-- The largest uploads in a time window: CREATE records by size, largest first.
--
-- Useful for spotting bulk exfiltration staging, runaway jobs or unexpected cost. Every CREATE
-- counts, overwrites of an unversioned key (NULL version_id) included. A CREATE whose version
-- was gone before S3 Metadata processed it has a NULL size; such rows sort last. Filters on
-- record_timestamp over the half-open window [since, until). The row cap is a row_number filter
-- rather than LIMIT: Athena accepts execution parameters only in WHERE clauses.
--
-- @tags analyst, objects
-- @param since timestamp = 24h: start of the window, inclusive (ISO 8601, or a duration before until)
-- @param until timestamp = now: end of the window, exclusive
-- @param bucket bucket = null: only this bucket (all buckets when omitted)
-- @param limit integer = 20: at most this many rows
SELECT bucket, key, version_id, size, record_timestamp, storage_class, is_multipart,
       encryption_status, requester, source_ip_address, sequence_number
FROM (
    SELECT bucket, key, version_id, size, record_timestamp, storage_class, is_multipart,
           encryption_status, requester, source_ip_address, sequence_number,
           row_number() OVER (ORDER BY size DESC NULLS LAST, record_timestamp DESC, bucket, key,
                                       sequence_number DESC) AS largest
    FROM journal
    WHERE record_type = 'CREATE'
      AND record_timestamp >= :since
      AND record_timestamp < :until
      AND (:bucket IS NULL OR bucket = :bucket)
) AS uploads
WHERE largest <= :limit
ORDER BY largest
