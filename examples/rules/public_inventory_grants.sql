-- Objects anyone can read or write: ACL grants to AllUsers in the newest S3 Inventory report.
--
-- Reads table inventory_report: on DuckDB give the report with --inventory-report PATH (and the journal
-- with --data); on Athena, create it with `s3meta ddl inventory-report`. The report's
-- ObjectAccessControlList is base64 of UTF-8 JSON; grants are split and tested with functions both
-- engines share, as the catalog query public_acl_grants does. An inventory is a snapshot, so this rule
-- takes no window: each run lists what is public now, and a grant already reported is not new again
-- unless it went unseen for renotify_after. One finding per object version and permission.
--
-- @tags rule, acl, inventory-report
-- @severity high
-- @title {key} in {bucket} grants {permission} to everyone (AllUsers)
-- @runbook Remove the grant (aws s3api put-object-acl --acl private, with --version-id for an older version), turn on S3 Block Public Access for the bucket and the account, and set Object Ownership to "bucket owner enforced" so that ACLs no longer apply.
-- @fingerprint bucket, key, version_id, permission
-- @param bucket bucket = null: only this bucket (all buckets when omitted)
WITH acl AS (
    SELECT bucket, key, version_id, object_owner,
           from_utf8(from_base64(object_access_control_list)) AS acl_json
    FROM inventory_report
    WHERE object_access_control_list IS NOT NULL
      AND (:bucket IS NULL OR bucket = :bucket)
), grants AS (
    SELECT a.bucket, a.key, a.version_id, a.object_owner, g.grant_json
    FROM acl AS a
    CROSS JOIN UNNEST(regexp_extract_all(a.acl_json, '\{[^{}]*\}')) AS g (grant_json)
)
SELECT bucket, key, version_id,
       regexp_extract(grant_json, '"permission"\s*:\s*"([A-Z_]+)"', 1) AS permission,
       object_owner
FROM grants
WHERE strpos(grant_json, '/groups/global/AllUsers"') > 0
ORDER BY bucket, key, version_id NULLS FIRST, permission
