"""AWS sessions as users configure them: the AWS CLI's AWS_REGION honoured, which boto3 alone ignores."""

from __future__ import annotations

import os
from typing import Any, Mapping


def region(explicit: str | None = None, env: Mapping[str, str] = os.environ) -> str | None:
    """The Region to use: the one s3meta was given, else $AWS_REGION; None lets boto3 decide.

    boto3 reads only AWS_DEFAULT_REGION and the profile's `region`, while the AWS CLI v2 and the
    other SDKs read AWS_REGION first; users set either, so both work, AWS_REGION first.
    """
    return explicit or env.get("AWS_REGION") or None


def session(profile: str | None = None, region_name: str | None = None) -> Any:
    """A boto3 session for `profile` (default: the standard chain) in the Region chosen by region()."""
    import boto3

    return boto3.Session(profile_name=profile, region_name=region(region_name))
