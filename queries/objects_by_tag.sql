-- Stored objects that carry a given tag, optionally with a given value, with their tags.
--
-- AWS example "discovering datasets that use specific tags" (`object_tags['...']`), over the
-- live inventory. Tag keys and values are case-sensitive, as in S3. The map is read only after
-- `contains(map_keys(...))` has found the key: on Athena (Trino) `object_tags['k']` fails the
-- whole query when any row lacks the key, and element_at, which returns NULL there, returns a
-- list on DuckDB. Every stored version is listed; delete markers are not objects and are left
-- out. A tag whose value is empty matches value '' only. The rows carry the whole tag map (the
-- tag's value is in it) because Athena accepts execution parameters only in WHERE clauses, so
-- the looked-up value cannot be a column of its own.
--
-- @tags aws, inventory, tags
-- @param tag string: the tag key, exactly as written (e.g. env, GuardDutyMalwareScanStatus)
-- @param value string = null: only objects whose tag has this exact value (any value when omitted)
-- @param bucket bucket = null: only this bucket (all buckets when omitted)
SELECT bucket, key, version_id, object_tags, size, storage_class, last_modified_date
FROM inventory
WHERE coalesce(is_delete_marker, false) = false
  AND (:bucket IS NULL OR bucket = :bucket)
  -- CASE fixes the order: the map is read only once the key is known to be there.
  AND CASE WHEN contains(map_keys(object_tags), :tag)
           THEN (:value IS NULL OR object_tags[:tag] = :value)
           ELSE false END
ORDER BY bucket, key, sequence_number, version_id NULLS FIRST
