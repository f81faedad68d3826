-- Uploads from outside the company's networks: object writes from a source IP in none of its ranges.
--
-- Copy this file and write your own ranges in the NOT (...) list: here 10.0.0.0/8, 172.16.0.0/12,
-- 192.0.2.0/24 and 2001:db8::/32. The test uses only functions both engines share: a text prefix for a
-- range that ends on an octet (IPv4) or a group (IPv6) boundary, and the second octet as a number for
-- 172.16.0.0/12. AWS writes IPv6 addresses in compressed lower-case form (2001:db8::1), so write an
-- IPv6 prefix that way. AWS services (a service principal as requester) and rows without a source IP
-- are left out. One finding per bucket, source IP and requester.
--
-- @tags rule, uploads, network
-- @severity high
-- @title {uploads} uploads to {bucket} from {source_ip_address}, outside the company's networks, by {requester}
-- @runbook Check whether the requester's credentials are used from an unexpected place (CloudTrail shows the user agent and access key); rotate them if so, and consider an aws:SourceIp or aws:SourceVpce condition in the bucket policy.
-- @fingerprint bucket, source_ip_address, requester
-- @param since timestamp = 24h: start of the window, inclusive
-- @param until timestamp = now: end of the window, exclusive
-- @param bucket bucket = null: only this bucket (all buckets when omitted)
SELECT bucket,
       source_ip_address,
       requester,
       count(*) AS uploads,
       CAST(sum(size) AS BIGINT) AS bytes,
       min(key) AS sample_key,
       min(record_timestamp) AS first_seen,
       max(record_timestamp) AS last_seen
FROM journal
WHERE record_type = 'CREATE'
  AND source_ip_address IS NOT NULL
  AND NOT coalesce(requester LIKE '%.amazonaws.com', FALSE)
  AND NOT (
         starts_with(source_ip_address, '10.')
      OR (starts_with(source_ip_address, '172.')
          AND try_cast(split_part(source_ip_address, '.', 2) AS INTEGER) BETWEEN 16 AND 31)
      OR starts_with(source_ip_address, '192.0.2.')
      OR starts_with(lower(source_ip_address), '2001:db8:')
  )
  AND record_timestamp >= :since
  AND record_timestamp < :until
  AND (:bucket IS NULL OR bucket = :bucket)
GROUP BY 1, 2, 3
ORDER BY uploads DESC, bucket, source_ip_address
