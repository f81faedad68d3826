-- Objects whose annotation text contains a value, or whose JSON annotation has a field equal to one.
--
-- Searches the annotation table, which holds the latest payload (text_value, UTF-8, up to 1 MiB)
-- of each annotation of each object version. `contains` matches literally anywhere in the text
-- (case-sensitive, no wildcards). `path` is a JSONPath such as $.pii or $.labels[0], read with
-- Athena's json_extract_scalar (the DuckDB engine supplies a macro that behaves the same): the
-- field must equal `value`, or just be present when no value is given. A payload that is not JSON,
-- or holds an object or an array at the path, never matches a path. Values compare as text as
-- written in the JSON (true, 8, "x" as x); Athena keeps a number's digits (0.930), DuckDB prints
-- its shortest form (0.93). Cost on Athena: text_value is the largest column and every search
-- reads it for each annotation left after the name, bucket and prefix filters, so give those
-- first.
--
-- @tags annotation, search
-- @param annotation_name string = null: only annotations of this name (all names when omitted)
-- @param contains string = null: text the payload must contain
-- @param path string = null: JSONPath of a field the payload must have, e.g. $.pii
-- @param value string = null: the value the field at path must have (any, when omitted)
-- @param bucket bucket = null: only this bucket (all buckets when omitted)
-- @param prefix prefix = null: only keys starting with this text (all keys when omitted)
SELECT bucket, object_key, object_version_id, name, size, last_modified_date, text_value, object_join_key
FROM annotation
WHERE (:annotation_name IS NULL OR name = :annotation_name)
  AND (:bucket IS NULL OR bucket = :bucket)
  AND (:prefix IS NULL OR starts_with(object_key, :prefix))
  AND (:contains IS NULL OR strpos(text_value, :contains) > 0)
  AND (:path IS NULL
       OR CASE WHEN :value IS NULL THEN json_extract_scalar(text_value, :path) IS NOT NULL
               ELSE json_extract_scalar(text_value, :path) = :value END)
ORDER BY bucket, object_key, object_version_id NULLS FIRST, name
