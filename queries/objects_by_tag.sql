-- Stored objects that carry a given tag, optionally with a given value, and the tag's value.
--
-- AWS example "discovering datasets that use specific tags" (`object_tags['...']`), over the
-- live inventory. Tag keys and values are case-sensitive, as in S3. The map is read only after
-- `contains(map_keys(...))` has found the key: on Athena (Trino) `object_tags['k']` fails the
-- whole query when any row lacks the key, and element_at, which returns NULL there, returns a
-- list on DuckDB. Every stored version is listed; delete markers are not objects and are left
-- out. A tag whose value is empty matches value '' only.
--
-- @tags aws, inventory, tags
-- @param tag string: the tag key, exactly as written (e.g. env, GuardDutyMalwareScanStatus)
-- @param value string = null: only objects whose tag has this exact value (any value when omitted)
-- @param bucket bucket = null: only this bucket (all buckets when omitted)
SELECT bucket, key, version_id, tag_value, size, storage_class, last_modified_date
FROM (
    SELECT bucket, key, version_id, sequence_number, size, storage_class, last_modified_date,
           CASE WHEN contains(map_keys(object_tags), :tag) THEN object_tags[:tag] END AS tag_value,
           contains(map_keys(object_tags), :tag) AS tagged
    FROM inventory
    WHERE coalesce(is_delete_marker, false) = false
      AND (:bucket IS NULL OR bucket = :bucket)
) AS t
WHERE tagged
  AND (:value IS NULL OR tag_value = :value)
ORDER BY bucket, key, sequence_number, version_id NULLS FIRST
