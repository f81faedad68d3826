-- Objects whose ACL grants access to everyone (AllUsers) or to any AWS account (AuthenticatedUsers).
--
-- Reads the classic S3 Inventory report (table inventory_report), whose ObjectAccessControlList is
-- base64 of UTF-8 JSON: {version, status, grants: [{type, uri | canonicalId, permission}]}. AWS's
-- Athena example decodes it with from_utf8(from_base64(...)); the DuckDB engine supplies from_utf8
-- as a macro, so this one text runs on both. Each grant is a flat JSON object, so grants are split
-- with regexp_extract_all and tested with strpos, which both engines share (json_extract_scalar
-- and CAST AS ARRAY(JSON) do not exist in DuckDB). One row per public grant; an ACL reported
-- UNAVAILABLE has no grants and is not listed. An object version whose report lacks
-- ObjectAccessControlList is listed once, with grantee and permission 'UNKNOWN': nothing says its
-- ACL is private.
--
-- @tags inventory-report, security, acl
-- @param bucket bucket = null: only this bucket (all buckets when omitted)
-- @param prefix prefix = null: only keys starting with this text (all keys when omitted)
WITH acl AS (
    SELECT bucket, key, version_id, object_owner,
           object_access_control_list = 'UNKNOWN' AS acl_unknown,
           -- CASE keeps 'UNKNOWN' (not base64) away from from_base64, which fails the query on it
           CASE WHEN object_access_control_list <> 'UNKNOWN'
                THEN from_utf8(from_base64(object_access_control_list)) END AS acl_json
    FROM inventory_report
    WHERE object_access_control_list IS NOT NULL
      AND (:bucket IS NULL OR bucket = :bucket)
      AND (:prefix IS NULL OR starts_with(key, :prefix))
), grants AS (
    SELECT a.bucket, a.key, a.version_id, a.object_owner, g.grant_json
    FROM acl AS a
    CROSS JOIN UNNEST(regexp_extract_all(a.acl_json, '\{[^{}]*\}')) AS g (grant_json)
)
SELECT bucket, key, version_id,
       CASE WHEN strpos(grant_json, '/groups/global/AllUsers"') > 0 THEN 'AllUsers'
            ELSE 'AuthenticatedUsers' END AS grantee,
       regexp_extract(grant_json, '"permission"\s*:\s*"([A-Z_]+)"', 1) AS permission,
       object_owner
FROM grants
WHERE strpos(grant_json, '/groups/global/AllUsers"') > 0
   OR strpos(grant_json, '/groups/global/AuthenticatedUsers"') > 0
UNION ALL
SELECT bucket, key, version_id, 'UNKNOWN' AS grantee, 'UNKNOWN' AS permission, object_owner
FROM acl
WHERE acl_unknown
ORDER BY bucket, key, version_id NULLS FIRST, grantee, permission
