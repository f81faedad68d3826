"""Shared fixtures: a pinned clock, a hand-built data set with known answers, the committed fixtures."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import datetime
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from analytics import schema

ROOT = Path(__file__).resolve().parent.parent
SMALL = ROOT / "fixtures" / "small"
NOW = datetime(2025, 11, 21, 6, 0, 0)  # the pinned clock: naive UTC
WINDOW = {"since": "2025-11-20T00:00:00", "until": "2025-11-21T00:00:00"}
MiB = 1024 * 1024
T = datetime

# The hand-built journal: every case the workshop queries must get right, with answers worked out
# by hand in test_workshop.py. Columns left out are NULL (AWS's rule for permanent deletes).
ODD_KEY = 'q"uote,comma\nnew.csv'
SCRIPT_KEY = "<script>alert(1)</script>/日本語.txt"


def _full(**row):
    base = dict(is_delete_marker=False, e_tag="d41d8cd98f00b204e9800998ecf8427e", storage_class="STANDARD",
                is_multipart=False, is_bucket_key_enabled=False, checksum_algorithm="CRC32",
                object_tags=[], user_metadata=[], request_id="REQ0000000000001")
    return base | row


HAND_JOURNAL = [
    # versioned bucket: create, tag, delete marker, then the version deleted for good
    _full(bucket="vers-bucket", key="docs/a.txt", sequence_number="0001", record_type="CREATE",
          record_timestamp=T(2025, 11, 20, 9), version_id="v1", size=2 * MiB, last_modified_date=T(2025, 11, 20, 9),
          encryption_status="SSE-KMS", kms_key_arn="arn:aws:kms:us-east-1:111122223333:key/k1",
          requester="111122223333", source_ip_address="192.0.2.10"),
    _full(bucket="vers-bucket", key="docs/a.txt", sequence_number="0002", record_type="UPDATE_METADATA",
          record_timestamp=T(2025, 11, 20, 9, 30), version_id="v1", size=2 * MiB,
          last_modified_date=T(2025, 11, 20, 9), encryption_status="SSE-KMS",
          kms_key_arn="arn:aws:kms:us-east-1:111122223333:key/k1", object_tags=[("env", "prod")],
          requester="111122223333", source_ip_address="192.0.2.10"),
    dict(bucket="vers-bucket", key="docs/a.txt", sequence_number="0003", record_type="DELETE",
         record_timestamp=T(2025, 11, 20, 10), version_id="dm1", is_delete_marker=True, size=0,
         last_modified_date=T(2025, 11, 20, 10), requester="444455556666", source_ip_address="2001:db8::1",
         request_id="REQ0000000000003"),
    dict(bucket="vers-bucket", key="docs/a.txt", sequence_number="0004", record_type="DELETE",
         record_timestamp=T(2025, 11, 20, 10, 30), version_id="v1"),
    # versioned bucket: lifecycle transition, then a lifecycle expiration (delete marker)
    _full(bucket="vers-bucket", key="logs/b.log", sequence_number="0001", record_type="CREATE",
          record_timestamp=T(2025, 11, 20, 8), version_id="v2", size=1 * MiB, last_modified_date=T(2025, 11, 20, 8),
          encryption_status="SSE-S3", requester="111122223333", source_ip_address="192.0.2.10"),
    _full(bucket="vers-bucket", key="logs/b.log", sequence_number="0002", record_type="UPDATE_METADATA",
          record_timestamp=T(2025, 11, 20, 11), version_id="v2", size=1 * MiB, last_modified_date=T(2025, 11, 20, 8),
          storage_class="GLACIER", encryption_status="SSE-S3", requester="s3.amazonaws.com", source_ip_address=None),
    dict(bucket="vers-bucket", key="logs/b.log", sequence_number="0003", record_type="DELETE",
         record_timestamp=T(2025, 11, 20, 12), version_id="dm2", is_delete_marker=True, size=0,
         last_modified_date=T(2025, 11, 20, 12), requester="s3.amazonaws.com"),
    # versioned bucket: a backfilled version deleted for good while the inventory still lags
    dict(bucket="vers-bucket", key="old/lagging.bin", sequence_number="0009", record_type="DELETE",
         record_timestamp=T(2025, 11, 20, 11, 50), version_id="vB"),
    # unversioned bucket: an odd key created, overwritten, deleted (size is the overwrite's)
    _full(bucket="plain-bucket", key=ODD_KEY, sequence_number="0001", record_type="CREATE",
          record_timestamp=T(2025, 11, 20, 9, 15), version_id=None, size=3 * MiB,
          last_modified_date=T(2025, 11, 20, 9, 15), encryption_status=None,
          requester="111122223333", source_ip_address="198.51.100.7"),
    _full(bucket="plain-bucket", key=ODD_KEY, sequence_number="0002", record_type="CREATE",
          record_timestamp=T(2025, 11, 20, 9, 45), version_id=None, size=5 * MiB,
          last_modified_date=T(2025, 11, 20, 9, 45), encryption_status="SSE-S3",
          requester="111122223333", source_ip_address="198.51.100.7"),
    dict(bucket="plain-bucket", key=ODD_KEY, sequence_number="0003", record_type="DELETE",
         record_timestamp=T(2025, 11, 20, 11, 30), version_id=None),
    # unversioned bucket: a backfilled object deleted for good (no CREATE, gone from inventory)
    dict(bucket="plain-bucket", key="old/backfilled.bin", sequence_number="0005", record_type="DELETE",
         record_timestamp=T(2025, 11, 20, 11, 45), version_id=None),
    _full(bucket="plain-bucket", key=SCRIPT_KEY, sequence_number="0001", record_type="CREATE",
          record_timestamp=T(2025, 11, 20, 13), version_id=None, size=100, last_modified_date=T(2025, 11, 20, 13),
          encryption_status=None, requester="777788889999", source_ip_address="203.0.113.9"),
    # at the window's edges: before since (out), exactly at since (in), exactly at until (out)
    dict(bucket="vers-bucket", key="edge/before.txt", sequence_number="0001", record_type="DELETE",
         record_timestamp=T(2025, 11, 19, 23, 59, 59, 999999), version_id="e0"),
    dict(bucket="vers-bucket", key="edge/at-since.txt", sequence_number="0001", record_type="DELETE",
         record_timestamp=T(2025, 11, 20, 0, 0, 0), version_id="e1"),
    dict(bucket="vers-bucket", key="edge/at-until.txt", sequence_number="0001", record_type="DELETE",
         record_timestamp=T(2025, 11, 21, 0, 0, 0), version_id="e2"),
]

HAND_INVENTORY = [
    dict(bucket="vers-bucket", key="docs/a.txt", sequence_number="0003", version_id="dm1", is_delete_marker=True,
         size=0, last_modified_date=T(2025, 11, 20, 10)),
    _full(bucket="vers-bucket", key="logs/b.log", sequence_number="0002", version_id="v2", size=1 * MiB,
          last_modified_date=T(2025, 11, 20, 8), storage_class="GLACIER", encryption_status="SSE-S3"),
    dict(bucket="vers-bucket", key="logs/b.log", sequence_number="0003", version_id="dm2", is_delete_marker=True,
         size=0, last_modified_date=T(2025, 11, 20, 12)),
    _full(bucket="vers-bucket", key="old/lagging.bin", sequence_number="0001", version_id="vB", size=4 * MiB,
          last_modified_date=T(2024, 1, 1), encryption_status="SSE-KMS",
          kms_key_arn="arn:aws:kms:us-east-1:111122223333:key/k1"),
    _full(bucket="plain-bucket", key=SCRIPT_KEY, sequence_number="0001", version_id=None, size=100,
          last_modified_date=T(2025, 11, 20, 13), encryption_status=None),
    _full(bucket="plain-bucket", key="old/keep.dat", sequence_number="0001", version_id=None, size=10 * MiB,
          last_modified_date=T(2023, 6, 1), encryption_status="SSE-S3"),
]


# The hand data set's annotation table: the latest annotations of two stored versions (the journal
# above predates annotations, as a table backfilled at enabling time would).
HAND_ANNOTATION = [
    dict(bucket="vers-bucket", object_key="logs/b.log", object_version_id="v2", object_join_key="jk-v2",
         name="retention", sequence_number="A0001", last_modified_date=T(2025, 11, 20, 8, 5), size=2,
         e_tag="3c2b5e8d0c5e4f6d9b8b2f0c1a7e6d51", replication_status=None, text_value="7y"),
    dict(bucket="plain-bucket", object_key="old/keep.dat", object_version_id=None, object_join_key="jk-keep",
         name="classification", sequence_number="A0002", last_modified_date=T(2023, 6, 1), size=12,
         e_tag="0e0f5f0c4d3b2a1908f7e6d5c4b3a291", replication_status=None, text_value="confidential"),
]


def write_tables(root: Path, journal: list[dict], inventory: list[dict], annotation: list[dict] | None = None) -> Path:
    """Parquet files in the exact AWS schema; missing keys are NULL. The annotation table only when given."""
    tables = [("journal", journal, schema.JOURNAL), ("inventory", inventory, schema.INVENTORY)]
    if annotation is not None:
        tables.append(("annotation", annotation, schema.ANNOTATION))
    for name, rows, sch in tables:
        (root / name).mkdir(parents=True, exist_ok=True)
        table = pa.Table.from_pylist([{k: r.get(k) for k in sch.names} for r in rows], schema=sch)
        pq.write_table(table, root / name / "part-00000.parquet", compression="zstd")
    return root


@pytest.fixture(scope="session")
def hand_data(tmp_path_factory) -> Path:
    return write_tables(tmp_path_factory.mktemp("hand"), HAND_JOURNAL, HAND_INVENTORY, HAND_ANNOTATION)


@pytest.fixture(scope="session")
def small_data() -> Path:
    assert (SMALL / "manifest.json").is_file(), "fixtures/small is missing: run the generator"
    return SMALL


@pytest.fixture(scope="session")
def small_manifest(small_data) -> dict:
    return json.loads((small_data / "manifest.json").read_text(encoding="utf-8"))


# --- the user's home: hostile, so that no test reads the real user's configuration ----------------------

# A default profile (and a "prod" one) that point somewhere else entirely. A test that names another config
# file or profile and still sees b_other, b_wrong_prod, athena or this data folder has found a leak; a test
# that names nothing gets this profile, as a user would.
HOSTILE_CONFIG = """
[profiles.default]
engine = "athena"
namespace = "b_other"
data = "/nonexistent/s3meta-hostile-data"

[profiles.prod]
engine = "athena"
namespace = "b_wrong_prod"
"""


@pytest.fixture(scope="session", autouse=True)
def user_home(tmp_path_factory) -> Path:
    """The whole session runs with HOME and XDG_CONFIG_HOME in a temp folder holding a hostile default
    config, and without the developer's own settings in S3META_* variables.

    Session-wide, so that module fixtures (which run before any function fixture) see it too; tests
    add their own settings with monkeypatch on top.
    """
    home = tmp_path_factory.mktemp("home")
    config = home / ".config" / "s3meta" / "config.toml"
    config.parent.mkdir(parents=True)
    config.write_text(HOSTILE_CONFIG, encoding="utf-8")
    patch = pytest.MonkeyPatch()
    if os.environ.get("S3META_LIVE_BUCKET"):
        # The live-AWS test runs with the developer's own AWS configuration, wherever HOME points.
        real = Path.home() / ".aws"
        patch.setenv("AWS_CONFIG_FILE", os.environ.get("AWS_CONFIG_FILE", str(real / "config")))
        patch.setenv("AWS_SHARED_CREDENTIALS_FILE",
                     os.environ.get("AWS_SHARED_CREDENTIALS_FILE", str(real / "credentials")))
    patch.setenv("HOME", str(home))
    patch.setenv("XDG_CONFIG_HOME", str(home / ".config"))
    from analytics import settings
    for name in [s.env for s in settings.SETTINGS.values()] + ["S3META_CONFIG", "S3META_PROFILE"]:
        patch.delenv(name, raising=False)
    yield home
    patch.undo()


@pytest.fixture
def hostile_config(user_home) -> Path:
    """The hostile ~/.config/s3meta/config.toml every test runs with."""
    return user_home / ".config" / "s3meta" / "config.toml"


@pytest.fixture
def empty_config(tmp_path) -> Path:
    """A config file with no profile: `--config` it to run with the built-in defaults only."""
    path = tmp_path / "empty.toml"
    path.write_text("", encoding="utf-8")
    return path


@pytest.fixture
def clock():
    return lambda: NOW


@pytest.fixture
def hand(hand_data, clock):
    import analytics
    with analytics.connect(data=hand_data, clock=clock) as session:
        yield session


def cli(*args: str, stdin: str | None = None, env: dict | None = None) -> subprocess.CompletedProcess:
    """Run the real command (`python -m analytics`) and capture its output as text."""
    environment = {k: v for k, v in os.environ.items() if not k.startswith("S3META_")}
    environment.update(env or {})
    return subprocess.run([sys.executable, "-m", "analytics", *args], input=stdin, capture_output=True,
                          text=True, encoding="utf-8", env=environment, timeout=120)


# --- a local AWS emulator: moto's server on 127.0.0.1, started and stopped by the suite -------------

@pytest.fixture(scope="session")
def moto_server():
    import logging
    import socket

    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    yield f"http://127.0.0.1:{port}"
    server.stop()


@pytest.fixture
def aws(moto_server, monkeypatch):
    """Point boto3 at the emulator with fake credentials; give each test a fresh emulator state."""
    import urllib.request

    for name in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_server)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    urllib.request.urlopen(urllib.request.Request(moto_server + "/moto-api/reset", method="POST"))
    import boto3
    boto3.client("s3").create_bucket(Bucket="athena-results")
    return moto_server
