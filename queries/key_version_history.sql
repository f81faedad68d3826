-- Every journal record of one key, oldest first: its full version history.
--
-- Who created each version, who changed its tags or storage class, who placed delete markers
-- and when versions were deleted for good, in sequence_number order (the order AWS defines for
-- the records of one bucket and key; timestamps can tie). This deliberately reads the whole
-- journal with no time window: a version created months ago and deleted today only makes sense
-- with its CREATE, and one key's records are few, so the cost is a scan filtered on the key.
-- The journal starts when S3 Metadata was enabled (and expired records are gone): a version
-- older than that has no CREATE here, only the inventory knows it. Unversioned keys show a NULL
-- version_id on every record; a permanent delete shows NULL requester, source IP,
-- is_delete_marker and size. With no bucket given, same-named keys of all buckets are listed,
-- each bucket's records together. Annotation changes (June 2026) are part of the history, with
-- annotation_name; object_join_key tells the instances of an unversioned key apart (a re-written
-- null version gets a new one), and is NULL in exports made before the launch.
--
-- @tags analyst, history
-- @param key key: the object key, exactly as stored
-- @param bucket bucket = null: only this bucket (all buckets when omitted)
SELECT bucket, key, sequence_number, record_type, record_timestamp, version_id, is_delete_marker,
       size, last_modified_date, e_tag, storage_class, is_multipart, encryption_status, kms_key_arn,
       checksum_algorithm, object_tags, user_metadata, requester, source_ip_address, request_id,
       object_join_key, annotation.name AS annotation_name
FROM journal
WHERE key = :key
  AND (:bucket IS NULL OR bucket = :bucket)
ORDER BY bucket, sequence_number
