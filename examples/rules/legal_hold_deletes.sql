-- Deletes under a legal-hold prefix: nobody should delete there at all.
--
-- Copy this file and write your own prefixes where finance/ and litigation/ stand (in the CASE and in
-- the WHERE clause). Delete markers and permanent deletes both count. One finding per bucket, prefix,
-- requester and source IP, with the number of deletes, a sample key and the first and last delete.
-- A permanent delete carries no requester or source IP (AWS's NULL rules): such deletes are one
-- finding with NULL there, never left out. S3 Lifecycle deletes count too: a lifecycle rule that
-- expires objects under a legal-hold prefix is itself the problem.
--
-- @tags rule, deletes, legal-hold
-- @severity critical
-- @title {deletes} deletes under legal-hold prefix {prefix} in {bucket} by {requester} from {source_ip_address}
-- @runbook Deleting under a legal-hold prefix breaks the hold. Revoke the requester's credentials if the deletes were not approved, then put the objects back: `s3meta restore-plan --requester REQUESTER --since FIRST_SEEN` writes the script that removes the delete markers (permanent deletes cannot be undone; restore them from a backup or a replica).
-- @fingerprint bucket, prefix, requester, source_ip_address
-- @param since timestamp = 24h: start of the window, inclusive
-- @param until timestamp = now: end of the window, exclusive
-- @param bucket bucket = null: only this bucket (all buckets when omitted)
SELECT bucket,
       CASE WHEN starts_with(key, 'finance/') THEN 'finance/' ELSE 'litigation/' END AS prefix,
       requester,
       source_ip_address,
       count(*) AS deletes,
       min(key) AS sample_key,
       min(record_timestamp) AS first_seen,
       max(record_timestamp) AS last_seen
FROM journal
WHERE record_type = 'DELETE'
  AND (starts_with(key, 'finance/') OR starts_with(key, 'litigation/'))
  AND record_timestamp >= :since
  AND record_timestamp < :until
  AND (:bucket IS NULL OR bucket = :bucket)
GROUP BY 1, 2, 3, 4
ORDER BY deletes DESC, bucket, prefix
