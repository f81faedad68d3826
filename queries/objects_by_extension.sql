-- Uploads of one file type: CREATE records of keys ending in a given extension, in a time window.
--
-- AWS example "objects by file extension" (`key LIKE '%.jpg' AND record_type = 'CREATE'`), made
-- safe and parameterized. AWS's sample scans the whole journal and is case-sensitive, so it
-- misses photo.JPG; this matches the extension case-insensitively (the extension type allows
-- only letters and digits, so it cannot smuggle a LIKE wildcard) and filters on record_timestamp
-- over the half-open window [since, until), as AWS's cost advice asks. The extension is the text
-- after the key's last '.', so `jpg` matches a.tar.jpg but not a.jpg.bak. Every CREATE counts:
-- an overwrite of an unversioned key (NULL version_id) is a second upload. A CREATE whose
-- version was gone before S3 Metadata processed it has NULL size and other details.
--
-- @tags aws, objects
-- @param extension extension: the file extension, with or without the dot (jpg, .parquet); any case
-- @param since timestamp = 24h: start of the window, inclusive (ISO 8601, or a duration before until)
-- @param until timestamp = now: end of the window, exclusive
-- @param bucket bucket = null: only this bucket (all buckets when omitted)
SELECT bucket, key, version_id, sequence_number, record_timestamp, size, storage_class,
       encryption_status, requester, source_ip_address
FROM journal
WHERE record_type = 'CREATE'
  AND lower(key) LIKE ('%.' || :extension)
  AND record_timestamp >= :since
  AND record_timestamp < :until
  AND (:bucket IS NULL OR bucket = :bucket)
ORDER BY record_timestamp DESC, bucket, key, sequence_number DESC
