"""Against real AWS: skipped unless S3META_LIVE_BUCKET and AWS credentials are configured.

    S3META_LIVE_BUCKET=my-bucket            a general purpose bucket with S3 Metadata enabled
    S3META_LIVE_WORKGROUP=primary           optional
    S3META_LIVE_OUTPUT_LOCATION=s3://...    optional when the workgroup manages results
    AWS_PROFILE / AWS_REGION                the standard AWS configuration
    pytest -m live_aws tests/test_live_aws.py
"""

from __future__ import annotations

import os

import pytest

import analytics

pytestmark = pytest.mark.live_aws


@pytest.fixture(scope="module")
def live():
    bucket = os.environ.get("S3META_LIVE_BUCKET")
    if not bucket:
        pytest.skip("set S3META_LIVE_BUCKET (and AWS credentials) to run against real Athena")
    import boto3

    if boto3.Session().get_credentials() is None:
        pytest.skip("no AWS credentials in the default chain")
    options = {k: os.environ[f"S3META_LIVE_{k.upper()}"] for k in ("workgroup", "output_location")
               if os.environ.get(f"S3META_LIVE_{k.upper()}")}
    with analytics.connect("athena", buckets=[bucket], timeout=300, **options) as session:
        yield session


@pytest.mark.parametrize("name", ["recent_deletes", "recent_user_deletes", "source_ip_activity",
                                  "recent_metadata_updates", "encryption_status_summary", "prefix_delete_volume"])
def test_workshop_queries_run_on_athena(live, name):
    result = live.run(name, since="24h")
    assert result.columns and result.stats["cost_usd"] > 0
    assert result.stats["data_scanned_bytes"] is not None
