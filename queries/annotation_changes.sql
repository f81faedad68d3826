-- Who created, overwrote or deleted which annotation, from where, in a time window.
--
-- Every annotation record of the journal (since June 2026) in the half-open window [since, until):
-- CREATE_ANNOTATION (a new annotation or an overwrite: AWS writes the same record type for both),
-- DELETE_ANNOTATION (permanent: annotations have no versions, and deletions are not replicated)
-- and UPDATE_ANNOTATION_METADATA (a replication status change, made by S3). Each row has the
-- requester (an account ID or service principal; the IAM user or role is only in CloudTrail data
-- events), the source IP, and the annotation's name, size and ETag (its content's, not the
-- object's). The journal never holds the payload and the annotation table keeps only the latest
-- one, so what an overwrite replaced cannot be read back: a new annotation_e_tag says the content
-- changed. A delete record names the annotation only. Optionally one bucket, one annotation name
-- (exactly as written), one requester, or keys under a prefix (matched literally). Newest first.
--
-- @tags annotation, actors
-- @param since timestamp = 24h: start of the window, inclusive (ISO 8601, or a duration before until)
-- @param until timestamp = now: end of the window, exclusive
-- @param bucket bucket = null: only this bucket (all buckets when omitted)
-- @param annotation_name string = null: only this annotation name, e.g. pii-classification (all when omitted)
-- @param requester requester = null: only changes by this account or principal (all when omitted)
-- @param prefix prefix = null: only keys starting with this text (all keys when omitted)
SELECT j.record_timestamp, j.record_type, j.bucket, j.key, j.version_id,
       j.annotation.name AS annotation_name, j.annotation.size AS annotation_size,
       j.annotation.e_tag AS annotation_e_tag, j.annotation.replication_status AS replication_status,
       j.requester, j.source_ip_address, j.request_id, j.object_join_key, j.sequence_number
FROM journal AS j
WHERE j.record_type IN ('CREATE_ANNOTATION', 'DELETE_ANNOTATION', 'UPDATE_ANNOTATION_METADATA')
  AND j.record_timestamp >= :since
  AND j.record_timestamp < :until
  AND (:bucket IS NULL OR j.bucket = :bucket)
  AND (:annotation_name IS NULL OR j.annotation.name = :annotation_name)
  AND (:requester IS NULL OR j.requester = :requester)
  AND (:prefix IS NULL OR starts_with(j.key, :prefix))
ORDER BY j.record_timestamp DESC, j.bucket, j.key, j.sequence_number DESC
