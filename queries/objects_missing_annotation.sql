-- Stored objects that lack a required annotation: the gaps in a labelling policy.
--
-- The current version of each key in the live inventory (or, with all_versions = 1, every stored
-- version: noncurrent ones hold data too) that has no annotation of the given name in the
-- annotation table. Delete markers cannot be annotated and are left out, as are keys whose current
-- version is one. The tables are joined as AWS advises, on bucket, key and object_join_key: the
-- join key names one instance of a version, so an annotation of an unversioned object that has
-- since been overwritten (S3 deletes those, and the annotation table can lag by up to an hour)
-- does not count. Inventory rows without an object_join_key (exported before June 2026) are
-- matched on the version ID alone. The current version is the newest by last_modified_date, then
-- sequence_number. An object written within the last hour may be listed before its annotation
-- reaches the table. The prefix is matched literally.
--
-- @tags annotation, inventory, compliance
-- @param annotation_name string: the annotation every object must carry, exactly as written (e.g. classification)
-- @param bucket bucket = null: only this bucket (all buckets when omitted)
-- @param prefix prefix = null: only keys starting with this text (all keys when omitted)
-- @param all_versions integer = 0: 1 to check every stored version, not only the current ones
WITH versions AS (
    SELECT bucket, key, version_id, object_join_key, is_delete_marker, size, storage_class,
           last_modified_date, encryption_status,
           row_number() OVER (PARTITION BY bucket, key
                              ORDER BY last_modified_date DESC NULLS LAST, sequence_number DESC) AS newest
    FROM inventory
    WHERE (:bucket IS NULL OR bucket = :bucket)
      AND (:prefix IS NULL OR starts_with(key, :prefix))
),
named AS (
    SELECT bucket, object_key, object_version_id, object_join_key
    FROM annotation
    WHERE name = :annotation_name
)
SELECT v.bucket, v.key, v.version_id, v.newest = 1 AS is_current, v.size, v.storage_class,
       v.last_modified_date, v.encryption_status, v.object_join_key
FROM versions AS v
LEFT JOIN named AS a
  ON a.bucket = v.bucket
 AND a.object_key = v.key
 AND a.object_version_id IS NOT DISTINCT FROM v.version_id
 AND (v.object_join_key IS NULL OR a.object_join_key = v.object_join_key)
WHERE coalesce(v.is_delete_marker, false) = false
  AND (v.newest = 1 OR :all_versions = 1)
  AND a.object_key IS NULL
ORDER BY v.bucket, v.key, v.newest
