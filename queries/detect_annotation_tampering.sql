-- Annotation changes behind the annotation_tampering detector: protected ones row by row, the rest counted.
--
-- Evidence for the report's annotation_tampering detector (s3meta report). Reads the journal's
-- annotation records (June 2026) from baseline_since to until and returns rows of three kinds (`grain`):
--   change   each CREATE_ANNOTATION or DELETE_ANNOTATION in [since, until) of an annotation whose
--            lower-cased name matches `protected` (a regular expression), with the record before
--            it of the same annotation (bucket, key, version, name) in the window: a write after a
--            write is an overwrite; with none before it, the journal cannot tell a new annotation
--            from an overwrite of one last written before the window;
--   actor    per bucket, requester and source IP, the annotation records of the baseline
--            [baseline_since, since): who has been seen touching annotations at all (object activity
--            is in detect_activity), and in protected_changes how many of them were protected
--            changes: who routinely maintains those annotations;
--   deletes  DELETE_ANNOTATION records of any name per bucket, requester and hour, in the window
--            and the baseline, for bursts.
-- Records are ordered by the journal's sequence_number, which orders one key's records whether or
-- not annotation records share that sequence with the object's (undocumented). Aggregate rows have
-- '' as key and sequence_number: the report drops rows whose (bucket, key, sequence_number) it has
-- already reported, which no aggregate row can be. `protected` and the window bounds are compared
-- in WHERE clauses only, as Athena's execution parameters require.
--
-- @tags detector, annotation
-- @param baseline_since timestamp = 15d: start of the baseline, inclusive (ISO 8601, or a duration before until)
-- @param since timestamp = 24h: start of the report window, inclusive; the baseline ends here
-- @param until timestamp = now: end of the report window, exclusive
-- @param protected string = ^(pii.*|retention.*|legal-hold.*|classification.*)$: regular expression of protected names, lower case
WITH events AS (
    -- Every annotation record from baseline_since, with the light columns the counts need.
    SELECT bucket, requester, source_ip_address, record_type, record_timestamp, annotation.name AS annotation_name
    FROM journal
    WHERE record_type IN ('CREATE_ANNOTATION', 'DELETE_ANNOTATION', 'UPDATE_ANNOTATION_METADATA')
      AND record_timestamp >= :baseline_since
      AND record_timestamp < :until
),
recent AS (
    -- The window's annotation records with what the row-level evidence shows. Only the window is
    -- read for these wide columns (keys, sequence numbers): reading them over the whole baseline
    -- would cost as much as the report's main scan.
    SELECT bucket, key, version_id, sequence_number, record_type, record_timestamp, requester,
           source_ip_address, annotation.name AS annotation_name, annotation.e_tag AS e_tag,
           lag(record_type) OVER (PARTITION BY bucket, key, version_id, annotation.name
                                  ORDER BY sequence_number) AS previous_type,
           lag(annotation.e_tag) OVER (PARTITION BY bucket, key, version_id, annotation.name
                                       ORDER BY sequence_number) AS previous_e_tag,
           lag(requester) OVER (PARTITION BY bucket, key, version_id, annotation.name
                                ORDER BY sequence_number) AS previous_requester,
           lag(record_timestamp) OVER (PARTITION BY bucket, key, version_id, annotation.name
                                       ORDER BY sequence_number) AS previous_at
    FROM journal
    WHERE record_type IN ('CREATE_ANNOTATION', 'DELETE_ANNOTATION', 'UPDATE_ANNOTATION_METADATA')
      AND record_timestamp >= :since
      AND record_timestamp < :until
),
changes AS (
    SELECT 'change' AS grain, bucket, key, version_id, sequence_number, record_type, record_timestamp,
           requester, source_ip_address, annotation_name, e_tag, previous_type, previous_e_tag,
           previous_requester, previous_at, CAST(NULL AS timestamp) AS hour, true AS in_window,
           CAST(1 AS bigint) AS events, CAST(NULL AS bigint) AS protected_changes,
           record_timestamp AS first_seen, record_timestamp AS last_seen
    FROM recent
    WHERE record_type IN ('CREATE_ANNOTATION', 'DELETE_ANNOTATION')
      AND regexp_like(lower(annotation_name), :protected)
),
baseline AS (
    -- Which baseline records are protected changes, told by two WHERE clauses (see detect_activity).
    SELECT bucket, requester, source_ip_address, record_timestamp, 1 AS protected
    FROM events
    WHERE record_timestamp < :since
      AND record_type IN ('CREATE_ANNOTATION', 'DELETE_ANNOTATION')
      AND regexp_like(lower(coalesce(annotation_name, '')), :protected)
    UNION ALL
    SELECT bucket, requester, source_ip_address, record_timestamp, 0 AS protected
    FROM events
    WHERE record_timestamp < :since
      AND NOT (record_type IN ('CREATE_ANNOTATION', 'DELETE_ANNOTATION')
               AND regexp_like(lower(coalesce(annotation_name, '')), :protected))
),
actors AS (
    SELECT 'actor' AS grain, bucket, '' AS key, CAST(NULL AS varchar) AS version_id, '' AS sequence_number,
           CAST(NULL AS varchar) AS record_type, CAST(NULL AS timestamp) AS record_timestamp, requester,
           source_ip_address, CAST(NULL AS varchar) AS annotation_name, CAST(NULL AS varchar) AS e_tag,
           CAST(NULL AS varchar) AS previous_type, CAST(NULL AS varchar) AS previous_e_tag,
           CAST(NULL AS varchar) AS previous_requester, CAST(NULL AS timestamp) AS previous_at,
           CAST(NULL AS timestamp) AS hour, false AS in_window, count(*) AS events,
           CAST(sum(protected) AS BIGINT) AS protected_changes,
           min(record_timestamp) AS first_seen, max(record_timestamp) AS last_seen
    FROM baseline
    GROUP BY bucket, requester, source_ip_address
),
deletes AS (
    -- Which side of `since` a delete falls on, told by two WHERE clauses (see detect_activity).
    SELECT bucket, requester, date_trunc('hour', record_timestamp) AS hour, false AS in_window, record_timestamp
    FROM events
    WHERE record_type = 'DELETE_ANNOTATION' AND record_timestamp < :since
    UNION ALL
    SELECT bucket, requester, date_trunc('hour', record_timestamp) AS hour, true AS in_window, record_timestamp
    FROM events
    WHERE record_type = 'DELETE_ANNOTATION' AND record_timestamp >= :since
),
hourly AS (
    SELECT 'deletes' AS grain, bucket, '' AS key, CAST(NULL AS varchar) AS version_id, '' AS sequence_number,
           'DELETE_ANNOTATION' AS record_type, CAST(NULL AS timestamp) AS record_timestamp, requester,
           CAST(NULL AS varchar) AS source_ip_address, CAST(NULL AS varchar) AS annotation_name,
           CAST(NULL AS varchar) AS e_tag, CAST(NULL AS varchar) AS previous_type,
           CAST(NULL AS varchar) AS previous_e_tag, CAST(NULL AS varchar) AS previous_requester,
           CAST(NULL AS timestamp) AS previous_at, hour, in_window, count(*) AS events,
           CAST(NULL AS bigint) AS protected_changes, min(record_timestamp) AS first_seen,
           max(record_timestamp) AS last_seen
    FROM deletes
    GROUP BY bucket, requester, hour, in_window
)
SELECT * FROM changes
UNION ALL SELECT * FROM actors
UNION ALL SELECT * FROM hourly
ORDER BY grain, bucket, requester NULLS FIRST, source_ip_address NULLS FIRST, hour NULLS FIRST,
         record_timestamp NULLS FIRST, key, sequence_number
