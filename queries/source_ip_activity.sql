-- Journal records per source IP address in a time window, most first.
--
-- STG302 workshop query "activity per source IP". A NULL source_ip_address stands for actions
-- taken by S3 or another AWS service (Lifecycle, GuardDuty tagging) and for permanent deletes,
-- whose IP AWS does not record; it is kept as its own row. Ties are ordered by address.
-- record_count counts the records about objects (CREATE, UPDATE_METADATA, DELETE), as the
-- workshop did before annotations existed; annotation events (June 2026) are counted apart in
-- annotation_events, so an address that only touched annotations shows with record_count 0.
--
-- @tags workshop, actors
-- @param since timestamp = 24h: start of the window, inclusive (ISO 8601, or a duration before until)
-- @param until timestamp = now: end of the window, exclusive
-- @param bucket bucket = null: only this bucket (all buckets when omitted)
SELECT source_ip_address,
       count(CASE WHEN record_type IN ('CREATE', 'UPDATE_METADATA', 'DELETE') THEN 1 END) AS record_count,
       count(CASE WHEN record_type IN ('CREATE_ANNOTATION', 'DELETE_ANNOTATION', 'UPDATE_ANNOTATION_METADATA') THEN 1 END) AS annotation_events
FROM journal
WHERE record_timestamp >= :since
  AND record_timestamp < :until
  AND (:bucket IS NULL OR bucket = :bucket)
GROUP BY source_ip_address
ORDER BY record_count DESC, source_ip_address NULLS FIRST
