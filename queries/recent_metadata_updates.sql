-- Recent tag and metadata changes: UPDATE_METADATA records in a window, newest first.
--
-- STG302 workshop query "recently changed tags and metadata". UPDATE_METADATA covers tag changes
-- (GuardDuty's GuardDutyMalwareScanStatus tag among them), user-metadata changes and S3 Lifecycle
-- storage-class transitions; each row carries the version's full state after the change.
-- The row cap is a row_number filter rather than LIMIT: Athena accepts execution parameters only
-- in WHERE clauses.
--
-- @tags workshop, metadata
-- @param since timestamp = 24h: start of the window, inclusive (ISO 8601, or a duration before until)
-- @param until timestamp = now: end of the window, exclusive
-- @param bucket bucket = null: only this bucket (all buckets when omitted)
-- @param limit integer = 50: at most this many rows
SELECT key, version_id, record_timestamp, record_type, object_tags, user_metadata, size,
       last_modified_date
FROM (
    SELECT key, version_id, record_timestamp, record_type, object_tags, user_metadata, size,
           last_modified_date,
           row_number() OVER (ORDER BY record_timestamp DESC, key, bucket, sequence_number DESC) AS newest
    FROM journal
    WHERE record_type = 'UPDATE_METADATA'
      AND record_timestamp >= :since
      AND record_timestamp < :until
      AND (:bucket IS NULL OR bucket = :bucket)
) AS updates
WHERE newest <= :limit
ORDER BY newest
