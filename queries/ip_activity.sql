-- Everything one source IP address did in a time window.
--
-- Every CREATE, UPDATE_METADATA and DELETE record made from the given address, newest first,
-- with the requester account, over the half-open window [since, until), and its annotation
-- changes (since June 2026), whose annotation_name says which annotation. The address is compared
-- as written: AWS records it as text, so an IPv6 address must be spelled as AWS spells it.
-- Blind spots: actions by S3 or another AWS service have a NULL source IP, and a permanent
-- delete carries NULL requester and source IP (AWS's rule), so permanent deletes made from this
-- address cannot be listed; look for them in recent_deletes near the times shown here.
--
-- @tags analyst, actors
-- @param ip ip: the source IPv4 or IPv6 address
-- @param since timestamp = 24h: start of the window, inclusive (ISO 8601, or a duration before until)
-- @param until timestamp = now: end of the window, exclusive
-- @param bucket bucket = null: only this bucket (all buckets when omitted)
SELECT record_timestamp, record_type, bucket, key, version_id, is_delete_marker, size, requester,
       request_id, sequence_number, annotation.name AS annotation_name
FROM journal
WHERE source_ip_address = :ip
  AND record_timestamp >= :since
  AND record_timestamp < :until
  AND (:bucket IS NULL OR bucket = :bucket)
ORDER BY record_timestamp DESC, bucket, key, sequence_number DESC
