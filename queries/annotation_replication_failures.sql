-- Annotations whose replication FAILED, with who wrote the revision that failed and when.
--
-- Live replication copies each annotation on its own. The annotation table's replication_status
-- is FAILED at the source when that copy failed (PENDING and COMPLETED otherwise, REPLICA at the
-- destination, NULL without replication); S3 does not retry it by itself. Deleting an annotation
-- is never replicated, so a deleted annotation is not listed but its copy may linger on the
-- destination. The writer comes from the journal: the latest CREATE_ANNOTATION of the same
-- bucket, key, version and name with the same ETag (so the same content), looked for in the
-- half-open window [since, until); written_at, writer and writer_ip are NULL when it is older.
-- Optionally one bucket, one annotation name, or keys under a prefix (matched literally).
--
-- @tags annotation, replication
-- @param since timestamp = 7d: where the journal is searched for the writes, inclusive
-- @param until timestamp = now: end of that search, exclusive
-- @param bucket bucket = null: only this bucket (all buckets when omitted)
-- @param annotation_name string = null: only annotations of this name (all names when omitted)
-- @param prefix prefix = null: only keys starting with this text (all keys when omitted)
WITH failed AS (
    SELECT bucket, object_key, object_version_id, object_join_key, name, size, e_tag, last_modified_date
    FROM annotation
    WHERE replication_status = 'FAILED'
      AND (:bucket IS NULL OR bucket = :bucket)
      AND (:annotation_name IS NULL OR name = :annotation_name)
      AND (:prefix IS NULL OR starts_with(object_key, :prefix))
),
writes AS (
    SELECT f.bucket, f.object_key, f.object_version_id, f.name, j.record_timestamp, j.requester,
           j.source_ip_address,
           row_number() OVER (PARTITION BY f.bucket, f.object_key, f.object_version_id, f.name
                              ORDER BY j.sequence_number DESC) AS newest
    FROM failed AS f
    JOIN journal AS j
      ON j.bucket = f.bucket
     AND j.key = f.object_key
     AND j.version_id IS NOT DISTINCT FROM f.object_version_id
     AND j.annotation.name = f.name
     AND j.annotation.e_tag = f.e_tag
    WHERE j.record_type = 'CREATE_ANNOTATION'
      AND j.record_timestamp >= :since
      AND j.record_timestamp < :until
)
SELECT f.bucket, f.object_key, f.object_version_id, f.name, f.size, f.e_tag, f.last_modified_date,
       w.record_timestamp AS written_at, w.requester AS writer, w.source_ip_address AS writer_ip,
       f.object_join_key
FROM failed AS f
LEFT JOIN writes AS w
  ON w.bucket = f.bucket
 AND w.object_key = f.object_key
 AND w.object_version_id IS NOT DISTINCT FROM f.object_version_id
 AND w.name = f.name
 AND w.newest = 1
ORDER BY f.last_modified_date DESC, f.bucket, f.object_key, f.object_version_id NULLS FIRST, f.name
