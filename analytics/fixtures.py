"""Deterministic synthetic S3 Metadata journal, inventory and annotation tables, with optional planted incidents."""

from __future__ import annotations

import ctypes
import gc
import hashlib
import ipaddress
import json
import os
import shutil
import tempfile
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Iterable

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from analytics import schema
from analytics.errors import BadInput

GENERATOR = "s3meta"
FORMAT_VERSION = 2  # 2: the June 2026 layout (object_join_key, annotation events, the annotation table)

# (name, versioned), in the order their integer codes are used below.
BUCKETS = (("acme-prod-data", True), ("acme-logs", False), ("acme.media.assets", True))
PROD, LOGS, MEDIA = 0, 1, 2
_BUCKET_WEIGHTS = (0.5, 0.3, 0.2)

ACCOUNTS = ("111122223333", "444455556666", "777788889999")
KMS_KEY_ARNS = (
    "arn:aws:kms:us-east-1:111122223333:key/1b2c3d4e-5f60-4a7b-8c9d-0e1f2a3b4c5d",
    "arn:aws:kms:us-east-1:111122223333:key/7f8e9d0c-1b2a-4c3d-9e8f-a1b2c3d4e5f6",
    "arn:aws:kms:us-east-1:111122223333:key/0a9b8c7d-6e5f-4d3c-8b2a-19f8e7d6c5b4",
)
# UNCONFIRMED: AWS does not document the requester of GuardDuty's tag writes (s3-metadata.md sections 1.2
# and 6); this is the principal GuardDuty's IAM role trusts.
GUARDDUTY_PRINCIPAL = "malware-protection-plan.guardduty.amazonaws.com"
GUARDDUTY_STATUSES = ("NO_THREATS_FOUND", "UNSUPPORTED", "ACCESS_DENIED", "FAILED", "THREATS_FOUND")

MASS_DELETE_ACTOR = "999988887777"
MASS_DELETE_IP = "203.0.113.66"
MASS_DELETE_PREFIX = "finance/"
KMS_ONLY_PREFIX = "ssekms-only/"
UPLOADS_PREFIX = "uploads/"

SEC = 1_000_000
HOUR = 3600 * SEC
DAY = 24 * HOUR
PART_ROWS = 1_000_000
ROW_GROUP = 128 * 1024
# Larger data sets are simulated as independent shards of at most this many journal rows, two at a time,
# so memory stays bounded, then merged in time order. A process simulating one world peaks at about
# 0.7 GiB for 500k rows and 1.1 GiB for a million: two million-row shards at once came to the 2 GiB
# bound. Up to this size the output is a single world's, byte for byte what it was before shards.
SHARD_ROWS = 500_000
_SHARD_KEYS = 10_000_000  # object numbers of shard i start at i * _SHARD_KEYS + 1: never two alike
# Rows read at a time from each shard's run while merging (the runs' row group size): the merge holds
# a batch of each run, and slabs of up to a batch from each. Fifty million rows are a hundred runs;
# merging a hundred runs (5M rows in shards of 50k) peaked at 2.1 GiB with 8192 rows, 0.8 GiB with
# 2048 but took twice as long.
_MERGE_BATCH = 4096
_MIB = 1 << 20

# Event kinds of the simulation. Each key takes at most one event per step.
PUT, TAG, LC_TRANS, GD_SCAN, DM_USER, LC_EXPIRE, DEL_CUR, DEL_OLD, UNDEL, STOP = range(10)
_N_KINDS = 10
# Annotation events, simulated apart (see _Annotations): CREATE_ANNOTATION (a new annotation or an
# overwrite), DELETE_ANNOTATION, UPDATE_ANNOTATION_METADATA (a replication status change).
ANN_PUT, ANN_DEL, ANN_META = 10, 11, 12

# Transition probabilities per (bucket, state). States: 0 no live version, 1 a live object with no older
# version, 2 a live object over older versions, 3 a delete marker on top. DEL_OLD removes the oldest
# version: a noncurrent-version expiration, or the cleanup of an expired lone delete marker.
_VERSIONED_TABLE = {
    0: {PUT: 0.25, STOP: 0.75},
    1: {PUT: 0.12, TAG: 0.22, LC_TRANS: 0.06, DM_USER: 0.08, LC_EXPIRE: 0.02, DEL_CUR: 0.02, STOP: 0.48},
    2: {PUT: 0.10, TAG: 0.18, LC_TRANS: 0.05, DM_USER: 0.07, LC_EXPIRE: 0.02, DEL_CUR: 0.03, DEL_OLD: 0.15,
        STOP: 0.40},
    3: {PUT: 0.10, DEL_OLD: 0.22, UNDEL: 0.12, STOP: 0.56},
}
# Logs: unversioned, so no markers and no version deletes, and most objects age out through Lifecycle.
_UNVERSIONED_TABLE = {
    0: {PUT: 0.05, STOP: 0.95},
    1: {PUT: 0.05, TAG: 0.04, LC_TRANS: 0.06, DEL_CUR: 0.04, LC_EXPIRE: 0.50, STOP: 0.31},
    2: {STOP: 1.0},
    3: {STOP: 1.0},
}
_MAX_STEPS = 24
_MEAN_GAP_DAYS = 1.0  # mean office-hours time between two user events on one key
_BACKFILL_SHARE = 0.3 / 1.3  # about 30% as many backfilled objects as objects created in the journal
_BACKFILL_ACTIVE = 0.3  # share of backfilled objects that change during the window

# Prefixes: (bucket, prefix, weight within the bucket, head template, variants, stems, extensions,
# log-normal size mu and sigma in ln(bytes)).
_PREFIXES = (
    (PROD, "reports/", 0.20, "reports/{Y}/{M}/", ("",), ("weekly-report", "kpi-summary", "board-deck"),
     (".pdf", ".csv", ".json"), 12.0, 1.5),
    (PROD, "exports/", 0.15, "exports/{Y}-{M}-{D}/", ("",), ("orders", "customers", "events"),
     (".parquet", ".csv", ".csv.gz", ".json"), 15.0, 2.0),
    (PROD, "images/", 0.20, "images/{Y}/{M}/", ("",), ("img", "photo", "banner"), (".jpg", ".png"),
     13.0, 1.2),
    (PROD, MASS_DELETE_PREFIX, 0.15, "finance/{Y}/q{Q}/", ("",), ("ledger", "invoice", "payroll"),
     (".csv", ".pdf", ".parquet"), 11.5, 1.5),
    (PROD, KMS_ONLY_PREFIX, 0.10, "ssekms-only/{Y}/{M}/", ("",), ("customer-pii", "hr-record", "contract"),
     (".json", ".csv", ".txt"), 10.0, 1.5),
    (PROD, UPLOADS_PREFIX, 0.20, "uploads/{V}/",
     ("u-1042", "u-2077", "u-3310", "partner-acme", "partner-zeta"), ("upload", "scan", "attachment"),
     (".pdf", ".jpg", ".png", ".txt", ".gz", ".mp4"), 13.0, 2.0),
    (LOGS, "app/", 0.45, "app/{V}/{Y}/{M}/{D}/", ("api", "billing", "worker", "auth"), ("app", "stdout"),
     (".log", ".log.gz"), 12.5, 1.0),
    (LOGS, "alb/", 0.35, "alb/AWSLogs/111122223333/elasticloadbalancing/us-east-1/{Y}/{M}/{D}/", ("",),
     ("111122223333_elasticloadbalancing_us-east-1_app.web-alb",), (".log.gz",), 13.5, 0.8),
    (LOGS, "cloudtrail/", 0.20, "cloudtrail/AWSLogs/111122223333/CloudTrail/us-east-1/{Y}/{M}/{D}/", ("",),
     ("111122223333_CloudTrail_us-east-1",), (".json.gz",), 10.5, 1.0),
    (MEDIA, "video/", 0.35, "video/{Y}/{V}/", ("spring-campaign", "product-demo", "webinars"),
     ("clip", "episode", "trailer"), (".mp4",), 19.5, 1.5),
    (MEDIA, "thumbnails/", 0.40, "thumbnails/{Y}/{M}/", ("",), ("thumb", "poster"), (".jpg", ".png"),
     10.5, 0.8),
    (MEDIA, "raw/", 0.25, "raw/{Y}/{M}/{D}/", ("",), ("cam-a", "cam-b", "take"), (".mp4", ".json", ".txt"),
     18.0, 2.0),
)
_P_INDEX = {p[1]: i for i, p in enumerate(_PREFIXES)}
_P_FINANCE = _P_INDEX[MASS_DELETE_PREFIX]
_P_KMS = _P_INDEX[KMS_ONLY_PREFIX]
_P_UPLOADS = _P_INDEX[UPLOADS_PREFIX]

# One of each hostile kind; every hostile key takes the next one round-robin, so a few keys cover them all.
HOSTILE_STEMS = (
    'quarterly "final" report', "o'brien notes", "smith, john", "line1\nline2", "col1\tcol2",
    "<script>alert(1)</script>", "日本語/ファイル", "Ελληνικά", "кириллица", "party 🎉 photo",
    "my report copy", "file%20name", "back\\slash",
)
_HOSTILE_SHARE = 0.01

_SC = {name: i for i, name in enumerate(schema.STORAGE_CLASSES)}
# Colder classes Lifecycle may move each class to; -1 pads.
_TRANSITIONS = np.full((len(schema.STORAGE_CLASSES), 3), -1, np.int64)
for _src, _dsts in {
    "STANDARD": ("STANDARD_IA", "GLACIER_IR", "GLACIER"),
    "STANDARD_IA": ("GLACIER_IR", "GLACIER", "DEEP_ARCHIVE"),
    "INTELLIGENT_TIERING": ("GLACIER", "DEEP_ARCHIVE"), "GLACIER_IR": ("GLACIER", "DEEP_ARCHIVE"),
    "GLACIER": ("DEEP_ARCHIVE",),
}.items():
    _TRANSITIONS[_SC[_src], :len(_dsts)] = [_SC[d] for d in _dsts]
_N_TRANSITIONS = (_TRANSITIONS >= 0).sum(axis=1)
_SC_NEW = (("STANDARD", 0.86), ("STANDARD_IA", 0.05), ("INTELLIGENT_TIERING", 0.06), ("GLACIER_IR", 0.03))
_SC_OLD = (("STANDARD", 0.6), ("STANDARD_IA", 0.15), ("INTELLIGENT_TIERING", 0.1), ("GLACIER_IR", 0.08),
           ("GLACIER", 0.05), ("DEEP_ARCHIVE", 0.02))

_TAG_SETS = (
    {}, {"env": "prod", "team": "data"}, {"classification": "confidential"}, {"env": "prod"},
    {"team": "media", "project": "spring-campaign"}, {"retention": "90d"}, {"env": "dev", "owner": "alice"},
)
_TAG_P = (0.55, 0.15, 0.08, 0.1, 0.05, 0.04, 0.03)
_N_GD = len(GUARDDUTY_STATUSES) + 1  # 0 = not scanned
_GD_BENIGN_P = (0.97, 0.015, 0.008, 0.007)  # over the first four statuses; THREATS_FOUND only when planted
_USER_METADATA = ({}, {"uploaded-by": "etl"}, {"source": "camera-07"},
                  {"uploaded-by": "web", "content-origin": "partner-portal"}, {"pipeline": "nightly-export"})
_USER_METADATA_P = (0.6, 0.2, 0.05, 0.1, 0.05)

_ENC = (None, "SSE-S3", "SSE-KMS", "DSSE-KMS", "SSE-C")
_ENC_NEW_P = (0.03, 0.815, 0.14, 0.01, 0.005)
_ENC_OLD_P = (0.08, 0.77, 0.13, 0.01, 0.01)
_CHECKSUMS = (None,) + schema.CHECKSUM_ALGORITHMS
# Objects uploaded in the window may use the algorithms added in 2026 (MD5 ... SHA512); older ones cannot.
_CK_NEW_P = (0.2, 0.40, 0.13, 0.1, 0.03, 0.06, 0.02, 0.02, 0.015, 0.015, 0.01)
_CK_OLD_P = (0.6, 0.1, 0.15, 0.08, 0.03, 0.04)

TAMPER_ACTOR = "210987654321"  # the unexpected account of the planted annotation incident
TAMPER_IP = "198.18.44.7"
_REQUESTERS = ACCOUNTS + (schema.LIFECYCLE_PRINCIPAL, GUARDDUTY_PRINCIPAL, MASS_DELETE_ACTOR, TAMPER_ACTOR)
_R_LIFECYCLE, _R_GD, _R_ACTOR, _R_TAMPER = 3, 4, 5, 6
_ACCOUNT_P = (0.86, 0.1, 0.04)


# 256-entry lookup tables: one gather turns a random byte into one character, or into two hex digits.
def _hex_pairs(digits: bytes) -> np.ndarray:
    """Byte -> its two hex digits as one little-endian uint16, so one gather yields both characters."""
    d = np.frombuffer(digits, np.uint8).astype("<u2")
    return d[np.arange(256) >> 4] | (d[np.arange(256) & 15] << 8)


_HEX2_UP = _hex_pairs(b"0123456789ABCDEF")
_HEX2_LO = _hex_pairs(b"0123456789abcdef")
_URLSAFE = np.frombuffer(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_", np.uint8)[
    np.arange(256) % 64]
# 256 = 7 * 36 + 4: the first four characters come up 8/256 rather than 7/256, which no consumer can notice.
_ALNUM_UP = np.frombuffer(b"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789", np.uint8)[np.arange(256) % 36]

# Parquet: dictionary pages only where values repeat; statistics where readers can prune on them.
_NO_DICTIONARY = {"key", "sequence_number", "version_id", "e_tag", "request_id", "object_join_key", "object_key",
                  "object_version_id"}
_NO_STATISTICS = {"sequence_number", "version_id", "e_tag", "request_id", "object_tags", "user_metadata",
                  "object_join_key", "object_version_id", "annotation", "text_value"}


def generate(out: str | os.PathLike, rows: int = 100_000, seed: int = 7, days: int = 14,
             end: datetime | None = None, incidents: bool = True, annotation_share: float = 0.08,
             annotation_rows: str = "full", scenarios: tuple[str, ...] = ()) -> dict:
    """Write out/{journal,inventory,annotation}/*.parquet and out/manifest.json; return the manifest.

    `annotation_share` is the share of journal rows that are annotation events (0 writes none, and an
    empty annotation table). `annotation_rows` says what those rows carry besides the annotation
    struct, which AWS does not document (s3-annotations.md section 2.3): "full", the annotated
    version's object columns, as an UPDATE_METADATA row carries them; "sparse", only the columns
    that identify the object and the request (bucket, key, version_id, object_join_key, requester,
    source IP, request ID), the object columns NULL. Queries must be right on both. `scenarios`
    names attacks and benign twins to plant over the data (analytics.scenarios).
    """
    from analytics import scenarios as scenario_module
    scenarios = scenario_module.check(scenarios)
    if isinstance(rows, bool) or not isinstance(rows, (int, np.integer)) or rows < 100:
        raise BadInput(f"rows must be an integer >= 100, got {rows!r}")
    if isinstance(days, bool) or not isinstance(days, (int, np.integer)) or days < 1:
        raise BadInput(f"days must be an integer >= 1, got {days!r}")
    if isinstance(annotation_share, bool) or not isinstance(annotation_share, (int, float)) \
            or not 0 <= annotation_share <= 0.5:
        raise BadInput(f"annotation_share must be a number from 0 to 0.5, got {annotation_share!r}")
    if annotation_rows not in ("full", "sparse"):
        raise BadInput(f"annotation_rows must be 'full' or 'sparse', got {annotation_rows!r}")
    end = _normalize_end(end)
    out = Path(out)
    try:
        for sub in ("journal", "inventory", "annotation"):
            (out / sub).mkdir(parents=True, exist_ok=True)
            probe = out / sub / ".write-probe"
            probe.write_bytes(b"")
            probe.unlink()
    except OSError as exc:
        raise BadInput(f"cannot write to {str(out)!r}: {exc}") from exc

    end_us = _to_us(end)
    start_us = end_us - int(days) * DAY
    # Annotations draw from a stream of their own: the object simulation's draws stay in one order.
    annotations = {"share": float(annotation_share), "full": annotation_rows == "full"}
    files, counts, planted = _generate(out, int(rows), int(seed), start_us, end_us, int(days), incidents,
                                       annotations)
    facts = {}
    if scenarios:
        facts, files, counts = scenario_module.plant(out, files, counts, scenarios, int(seed),
                                                     end - int(days) * timedelta(days=1), end)
    for sub, names in files.items():
        _remove_stale(out / sub, names)
    manifest = {
        "generator": GENERATOR, "format_version": FORMAT_VERSION, "seed": int(seed),
        "rows": counts["journal"], "inventory_rows": counts["inventory"], "days": int(days),
        "annotation_events": counts["annotation_events"], "annotation_rows": annotation_rows,
        "annotation_share": float(annotation_share), "annotation_table_rows": counts["annotation"],
        "start": _iso(start_us), "end": _iso(end_us),
        "buckets": [{"name": name, "versioned": versioned} for name, versioned in BUCKETS],
        "incidents": planted, "files": files,
    }
    if facts:
        manifest["scenarios"] = facts
    _write_atomic(out / "manifest.json",
                  (json.dumps(manifest, indent=2, sort_keys=True, ensure_ascii=False) + "\n").encode("utf-8"))
    return manifest


def _generate(out: Path, rows: int, seed: int, start_us: int, end_us: int, days: int,
              incidents: bool, annotations: dict) -> tuple[dict, dict, dict]:
    """One world up to SHARD_ROWS rows; above, shards of keys simulated apart and merged by time.

    Shards share the first shard's IP pool; shard 0 draws from `seed` (its annotations from
    (seed, 2026)) as a single world does, shard i from (seed, i) (and (seed, i, 2026)), and only
    shard 0 plants incidents. Each shard writes its tables, each in a single world's order, as runs
    in a temporary folder; the runs are then merged into parts in that order: the journal by time (so
    row groups cover short spans of time and a window reads few of them), the inventory and the
    annotation table by bucket and key.
    """
    def streams(i: int) -> tuple[np.random.Generator, dict]:
        rng = np.random.default_rng(seed if i == 0 else [seed, i])
        return rng, {**annotations, "rng": np.random.default_rng([seed, 2026] if i == 0 else [seed, i, 2026])}

    if rows <= SHARD_ROWS:
        rng, first = streams(0)
        world = _World(rng, rows, start_us, end_us, days, incidents, first)
        files, counts = world.write(out)
        return files, counts, world.incidents
    shards = -(-rows // SHARD_ROWS)
    sizes = [rows // shards + (i < rows % shards) for i in range(shards)]
    ips = _ip_pool(np.random.default_rng(seed))  # what shard 0 draws first, as a single world does
    runs = Path(tempfile.mkdtemp(prefix=".journal-runs-", dir=out))
    try:
        def shard(i: int) -> tuple[dict, dict]:
            rng, shard_annotations = streams(i)
            world = _World(rng, sizes[i], start_us, end_us, days, incidents and i == 0, shard_annotations,
                           ips=None if i == 0 else ips, key_base=i * _SHARD_KEYS)
            _, counts = world.write(runs / f"{i:05d}", runs=True)
            return counts, world.incidents

        # Two shards at a time: numpy and Arrow release the GIL for most of a shard's work.
        with ThreadPoolExecutor(max_workers=2) as pool:
            done = list(pool.map(shard, range(shards)))
        _give_back_memory()
        files = {table: _merge_runs(sorted(runs.glob(f"*/{table}/part-*.parquet")), out / table, target, keys)
                 for table, target, keys in (("journal", schema.JOURNAL, _JOURNAL_ORDER),
                                             ("inventory", schema.INVENTORY, _INVENTORY_ORDER),
                                             ("annotation", schema.ANNOTATION, _ANNOTATION_ORDER))}
    finally:
        shutil.rmtree(runs, ignore_errors=True)
    counts = {name: sum(c[name] for c, _ in done) for name in done[0][0]}
    return files, counts, done[0][1]


def _give_back_memory() -> None:
    """Return the memory the shards freed to the system before the merge allocates its own.

    Arrow's allocator (mimalloc) and glibc's keep freed pages for reuse: 50M rows ended the shards
    holding some 1.4 GiB that nothing used, and the merge's own 0.6 GiB came on top (a 2.03 GiB peak).
    For 1.5M rows this takes the process from 876 MiB to 181 MiB.
    """
    gc.collect()
    pa.default_memory_pool().release_unused()
    try:
        ctypes.CDLL(None).malloc_trim(0)  # glibc only; elsewhere the pages are simply reused later
    except (OSError, AttributeError):
        pass


# The order of a single world's rows, which merged shards keep: sequence numbers start with the time.
_JOURNAL_ORDER = ("record_timestamp", "bucket", "key", "sequence_number")
_INVENTORY_ORDER = ("bucket", "key", "sequence_number")
# A key's annotations all come from one shard, in its order (version, then name): the merge's sort is
# stable, so the key alone orders them.
_ANNOTATION_ORDER = ("bucket", "object_key")


def _merge_runs(runs: list[Path], folder: Path, target: pa.Schema, keys: tuple[str, ...]) -> list[str]:
    """Runs, each sorted by `keys`, merged into parts sorted by `keys`.

    A k-way merge by slabs: every run holds a batch, and no later batch of any run can hold a row
    before the smallest of the batches' last rows; the rows up to it are sorted and written, and the
    runs refilled. Memory holds one small batch per run and one slab.
    """
    class Run:
        def __init__(self, path: Path):
            # Not pre-buffered, and read 1 MiB at a time: pyarrow's default reader holds ~38 MiB a
            # run, which a hundred runs (50M rows) made 3.8 GiB.
            self.batches = pq.ParquetFile(path, pre_buffer=False, buffer_size=1 << 20).iter_batches(
                batch_size=_MERGE_BATCH)
            self.rows = target.empty_table()

        def fill(self) -> bool:
            while not self.rows.num_rows:
                batch = next(self.batches, None)
                if batch is None:
                    return False
                self.rows = pa.Table.from_batches([batch])
            return True

        def last(self) -> tuple:
            return tuple(self.rows.column(k)[-1].as_py() for k in keys)

        def take_through(self, bound: tuple) -> pa.Table:
            # Rows <= bound, compared column by column; they are a prefix, the run being sorted.
            before, same = None, None
            for k, value in zip(keys, bound, strict=True):
                column, scalar = self.rows.column(k), pa.scalar(value, self.rows.schema.field(k).type)
                less = pc.less(column, scalar) if same is None else pc.and_(same, pc.less(column, scalar))
                before = less if before is None else pc.or_(before, less)
                same = pc.equal(column, scalar) if same is None else pc.and_(same, pc.equal(column, scalar))
            n = pc.sum(pc.or_(before, same)).as_py() or 0
            taken, self.rows = self.rows.slice(0, n), self.rows.slice(n)
            return taken

    cursors = [Run(path) for path in runs]
    order = [(k, "ascending") for k in keys]

    def slabs():
        while live := [c for c in cursors if c.fill()]:
            bound = min(c.last() for c in live)
            slab = pa.concat_tables([c.take_through(bound) for c in live])
            yield slab.take(pc.sort_indices(slab, sort_keys=order))

    return _write_parts(folder, target, slabs())


def _remove_stale(folder: Path, names: list[str]) -> None:
    """Part files an earlier, larger data set left in `folder`."""
    keep = {n.split("/")[-1] for n in names}
    for stale in folder.glob("part-*.parquet"):
        if stale.name not in keep:
            stale.unlink()


def _normalize_end(end: datetime | None) -> datetime:
    if end is None:
        return datetime.now(timezone.utc).replace(tzinfo=None, minute=0, second=0, microsecond=0)
    if not isinstance(end, datetime):
        raise BadInput(f"end must be a datetime, got {end!r}")
    if end.tzinfo is not None:
        end = end.astimezone(timezone.utc).replace(tzinfo=None)
    return end.replace(microsecond=end.microsecond // 1000 * 1000)  # records carry whole milliseconds


def _to_us(dt: datetime) -> int:
    return (dt - datetime(1970, 1, 1)) // timedelta(microseconds=1)


def _iso(us: int) -> str:
    return (datetime(1970, 1, 1) + timedelta(microseconds=int(us))).isoformat()


def _write_atomic(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def _parquet_options(target: pa.Schema) -> dict:
    return dict(compression="zstd", use_dictionary=[c for c in target.names if c not in _NO_DICTIONARY],
                write_statistics=[c for c in target.names if c not in _NO_STATISTICS])


def _groups(n_rows: int) -> list[tuple[int, int]]:
    """Row ranges [lo, hi) of the row groups _write_parts makes of n_rows rows."""
    return [(group, min(n_rows, part + PART_ROWS, group + ROW_GROUP))
            for part in range(0, n_rows, PART_ROWS) for group in range(part, min(n_rows, part + PART_ROWS), ROW_GROUP)]


def _write_parts(folder: Path, target: pa.Schema, tables: Iterable[pa.Table],
                 group_rows: int | None = None) -> list[str]:
    """Write the rows of `tables`, in order, as part files of PART_ROWS rows with row groups of
    `group_rows` rows (default ROW_GROUP, read when called; the last of a part or of the data shorter).

    The tables come one at a time (a row group's worth from _groups, or a merge's slab), so the whole
    data set never sits in memory. An empty data set is one empty part.
    """
    group_rows = group_rows or ROW_GROUP
    names: list[str] = []
    pending: list[pa.Table] = []
    state = {"writer": None, "rows": 0, "path": None}  # the open part and the rows written to it

    def write_group(rows: pa.Table) -> None:
        if state["writer"] is None:
            name = f"part-{len(names):05d}.parquet"
            names.append(f"{folder.name}/{name}")
            state["path"] = folder / name
            state["writer"] = pq.ParquetWriter(folder / f".{name}.tmp", target, **_parquet_options(target))
            state["rows"] = 0
        state["writer"].write_table(rows, row_group_size=max(rows.num_rows, 1))
        state["rows"] += rows.num_rows
        if state["rows"] >= PART_ROWS:
            close()

    def close() -> None:
        state["writer"].close()
        os.replace(state["path"].with_name(f".{state['path'].name}.tmp"), state["path"])
        state["writer"], state["rows"] = None, 0

    for table in tables:
        pending.append(table)
        while (buffered := sum(t.num_rows for t in pending)) >= min(group_rows, PART_ROWS - state["rows"]):
            size = min(group_rows, PART_ROWS - state["rows"])
            rows = pending[0] if pending[0].num_rows == size else pa.concat_tables(pending).combine_chunks()
            write_group(rows.slice(0, size))
            pending = [rows.slice(size)] if buffered > size else []
            if not pending:
                break
    rest = [t for t in pending if t.num_rows]
    if rest or not names:
        write_group(pa.concat_tables(rest).combine_chunks() if rest else target.empty_table())
    if state["writer"] is not None:
        close()
    return names


def _choice(rng: np.random.Generator, n: int, p) -> np.ndarray:
    """Indices drawn with probabilities p; inverse CDF on one uniform each (cheaper than rng.choice)."""
    cdf = np.cumsum(np.asarray(p, np.float64))
    cdf /= cdf[-1]
    return np.minimum(np.searchsorted(cdf, rng.random(n), side="right"), len(cdf) - 1)


def _random_bytes(rng: np.random.Generator, count: int) -> np.ndarray:
    """`count` random bytes; drawn as uint64 words, several times faster than Generator.bytes."""
    words = rng.integers(0, 2**64 - 1, -(-count // 8), dtype=np.uint64, endpoint=True)
    return words.view(np.uint8)[:count]


def _random_chars(rng: np.random.Generator, n: int, width: int, alphabet: np.ndarray) -> np.ndarray:
    """(n, width) characters from a 256-entry alphabet table, one random byte each."""
    raw = _random_bytes(rng, n * width).tobytes()
    return np.frombuffer(raw.translate(alphabet.tobytes()), np.uint8).reshape(n, width)


def _hex(b: np.ndarray, table2: np.ndarray) -> np.ndarray:
    """(n, w) uint8 bytes -> (n, 2w) ASCII hex digits."""
    return table2[b].view(np.uint8).reshape(b.shape[0], b.shape[1] * 2)


def _u64_bytes(x: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(x, dtype=">u8").view(np.uint8).reshape(-1, 8)


def _fixed_strings(chars: np.ndarray, valid: np.ndarray | None = None) -> pa.Array:
    """(n, w) ASCII bytes -> an Arrow string array, without a Python object per row."""
    n, w = chars.shape
    big = (n + 1) * w >= 2**31
    offsets = pa.py_buffer(np.arange(0, (n + 1) * w, w, dtype=np.int64 if big else np.int32))
    bitmap = None
    if valid is not None and not valid.all():
        bitmap = pa.py_buffer(np.packbits(valid, bitorder="little"))
    data = pa.py_buffer(np.ascontiguousarray(chars))
    arr = pa.Array.from_buffers(pa.large_string() if big else pa.string(), n, [bitmap, offsets, data])
    return arr.cast(pa.string()) if big else arr


def _take(pool: pa.Array, idx: np.ndarray) -> pa.Array:
    """pool[idx], NULL where idx < 0."""
    valid = idx >= 0
    return pool.take(pa.array(np.where(valid, idx, 0), mask=~valid))


def _ip_pool(rng: np.random.Generator) -> tuple[list[str], np.ndarray]:
    ips = [f"10.0.{a}.{b}" for a, b in zip(rng.integers(0, 64, 120), rng.integers(1, 255, 120), strict=True)]
    ips += [f"192.0.2.{b}" for b in rng.integers(1, 255, 40)]
    ips += [f"198.51.100.{b}" for b in rng.integers(1, 255, 40)]
    ips = sorted(set(ips))
    n4 = len(ips)
    for _ in range(24):
        groups = [0x2001, 0xDB8] + [int(g) for g in rng.integers(1, 0x10000, 6)]
        zeros = int(rng.integers(0, 4))  # a run of zero groups, which AWS's compressed form writes as ::
        at = int(rng.integers(2, 8 - zeros)) if zeros else 0
        groups[at:at + zeros] = [0] * zeros
        ips.append(str(ipaddress.IPv6Address(sum(g << (16 * (7 - i)) for i, g in enumerate(groups)))))
    weights = np.concatenate([np.full(n4, 0.9 / n4), np.full(len(ips) - n4, 0.1 / (len(ips) - n4))])
    return ips, weights


class _World:
    """One simulated window: keys, versions and journal events, then materialized as Arrow tables."""

    def __init__(self, rng, rows, start_us, end_us, days, incidents, annotations, ips=None, key_base=0):
        self.rng, self.start, self.end, self.days = rng, start_us, end_us, days
        self.ips, self.ip_p = ips if ips is not None else _ip_pool(rng)
        self.key_base = key_base  # a shard's object numbers start above the other shards' ones
        self._rhythm()
        n_unenc = int(rng.integers(5, 21))
        n_mass = max(50, rows // 200)
        n_annotation = int(round(annotations["share"] * rows))
        tamper = incidents and n_annotation > 0
        planted = (n_mass + n_unenc + 2 + (_TAMPER_ROWS if tamper else 0)) if incidents else 0
        self._simulate_and_cut(max(rows - planted - n_annotation, 1))
        self.incidents = {}
        self._planted = None
        if incidents:
            self._plant(n_mass, n_unenc)
        self.arng = annotations["rng"]
        self.annotations = _Annotations(self, self.arng, n_annotation, tamper) if n_annotation else None
        self._sparse_annotations = not annotations["full"]

    # ---- time -------------------------------------------------------------------------------------------
    def _rhythm(self):
        seg = self.start + np.arange(self.days * 24, dtype=np.int64) * HOUR
        hour = (seg // HOUR) % 24
        weekday = ((seg // DAY) + 3) % 7 < 5  # 1970-01-01 was a Thursday
        weekday_w = np.select([(hour >= 8) & (hour < 19), (hour >= 6) & (hour < 23)], [10.0, 2.5], 0.8)
        w = np.where(weekday, weekday_w, np.where((hour >= 9) & (hour < 20), 1.5, 0.6))
        self.w = w / w.sum()
        self.cdf = np.concatenate([[0.0], np.cumsum(self.w)])
        self.cdf[-1] = 1.0

    def _user_times(self, prev: np.ndarray | None, n: int) -> np.ndarray:
        """Office-hours-weighted times: anywhere in the window, or after prev; some follow prev closely.

        After prev, the gap is exponential in office-hours time (mean _MEAN_GAP_DAYS): a key's next
        event comes at a steady rate, not somewhere in what is left of the window, which would pile
        events (deletes above all, which come late in a key's life) up towards the window's end.
        A time past the end comes back as the end, and the caller drops it.
        """
        rng = self.rng
        if prev is None:
            u = rng.random(n)
        else:
            seg = np.clip((prev - self.start) // HOUR, 0, len(self.w) - 1)
            lo = self.cdf[seg] + self.w[seg] * ((prev - self.start - seg * HOUR) / HOUR)
            u = lo + rng.exponential(_MEAN_GAP_DAYS / self.days, n)
        past = u >= 1.0
        u = np.minimum(u, 1.0)
        seg = np.clip(np.searchsorted(self.cdf, u, side="right") - 1, 0, len(self.w) - 1)
        t = self.start + seg * HOUR + ((u - self.cdf[seg]) / self.w[seg] * HOUR).astype(np.int64)
        if prev is None:
            return np.minimum(t, self.end - 1)
        t = np.where(past, self.end, t)
        burst = rng.random(n) < 0.2
        t = np.where(burst, prev + (rng.exponential(300.0, n) * SEC).astype(np.int64), t)
        return np.maximum(t, prev + 1000)

    def _lifecycle_times(self, prev: np.ndarray, bucket: np.ndarray) -> np.ndarray:
        """S3 Lifecycle runs once a day, shortly after midnight UTC, some days after the object qualifies."""
        rng = self.rng
        age = np.where(bucket == LOGS, rng.integers(0, 7, len(prev)), rng.integers(0, 4, len(prev)))
        day = prev // DAY + 1 + age
        return day * DAY + (rng.random(len(prev)) ** 2 * 2 * HOUR).astype(np.int64)

    # ---- simulation -------------------------------------------------------------------------------------
    def _simulate_and_cut(self, target):
        # Journal rows per key, measured: about 1.26 for a 1-day window, 1.57 for 14 days, 1.63 for 30.
        per_key_estimate = 1.25 + 0.35 * (1 - np.exp(-self.days / 6))
        n_keys = int(target / per_key_estimate * 1.04) + 64
        while True:
            sim = self._simulate(n_keys)
            per_key = np.bincount(sim["r_kid"], minlength=n_keys)
            if per_key.sum() >= target or n_keys > 50 * target:
                break
            n_keys = int(n_keys * 1.3) + 64
        # Keep a prefix of the keys, then fill the remaining gap with single later keys, for an exact count.
        cum = np.cumsum(per_key)
        cut = int(np.searchsorted(cum, target, side="right"))
        keep = np.zeros(n_keys, bool)
        keep[:cut] = True
        gap = target - (int(cum[cut - 1]) if cut else 0)
        pos = cut
        while gap > 0:
            cand = np.flatnonzero((per_key[pos:] >= 1) & (per_key[pos:] <= gap))
            if not len(cand):
                break
            j = pos + int(cand[0])
            keep[j] = True
            gap -= int(per_key[j])
            pos = j + 1
        self._apply_keep(sim, keep)

    def _simulate(self, n_keys):
        """Step all keys at once: at each step every active key takes at most one event.

        Each key's live versions form a doubly linked list (oldest at `bottom`, current at `top`): S3 only
        ever adds a version on top, removes the current one, or expires the oldest noncurrent one here.
        """
        rng = self.rng
        kb = _choice(rng, n_keys, _BUCKET_WEIGHTS)
        kp = np.empty(n_keys, np.int64)
        for b in range(3):
            idx = np.flatnonzero(kb == b)
            local = [i for i, p in enumerate(_PREFIXES) if p[0] == b]
            kp[idx] = np.asarray(local)[_choice(rng, len(idx), [_PREFIXES[i][2] for i in local])]
        kvar = rng.integers(0, 1 << 30, n_keys)
        kbf = rng.random(n_keys) < _BACKFILL_SHARE
        versioned = np.array([v for _, v in BUCKETS])[kb]
        is_uploads = kp == _P_UPLOADS

        v = _Versions(int(n_keys * 2.2) + 64)
        top = np.full(n_keys, -1, np.int64)
        bottom = np.full(n_keys, -1, np.int64)
        nlive = np.zeros(n_keys, np.int64)

        # Backfill: versions written before the window, oldest first; some keys carry a delete marker.
        bf = np.flatnonzero(kbf)
        nreal = np.where(versioned[bf], 1 + _choice(rng, len(bf), (0.8, 0.15, 0.05)), 1)
        marker = versioned[bf] & (rng.random(len(bf)) < 0.04)
        depth = nreal + marker
        oldest = (rng.exponential(200.0, len(bf)).clip(0, 1500) * DAY + HOUR).astype(np.int64)
        frac = np.sort(rng.random((len(bf), 4)), axis=1)[:, ::-1]
        frac[:, 0] = 1.0
        ages = (oldest[:, None] * frac).astype(np.int64) + (3 - np.arange(4)) * SEC
        slot = np.arange(4)[None, :]
        used = slot < depth[:, None]
        kk = np.broadcast_to(bf[:, None], used.shape)[used]
        ss = np.broadcast_to(slot, used.shape)[used]
        g = v.add(len(kk))
        is_last = (np.broadcast_to(slot, used.shape) == (depth - 1)[:, None])[used]
        v.key[g], v.slot[g], v.time[g] = kk, ss, (self.start - ages[used]) // 1000 * 1000
        v.bf[g] = True
        v.marker[g] = is_last & np.repeat(marker, depth)
        v.sc[g] = np.array([_SC[c] for c, _ in _SC_OLD])[_choice(rng, len(g), [p for _, p in _SC_OLD])]
        v.tag[g] = self._initial_tags(kp[kk])
        v.gd[g] = np.where(kp[kk] == _P_UPLOADS, 1 + _choice(rng, len(g), _GD_BENIGN_P), 0)
        v.below[g] = np.where(ss > 0, g - 1, -1)
        v.above[g] = np.where(is_last, -1, g + 1)
        bottom[kk[ss == 0]] = g[ss == 0]
        top[kk[is_last]] = g[is_last]
        nlive[bf] = depth

        table = np.zeros((3, 4, _N_KINDS))
        for b, (_, is_versioned) in enumerate(BUCKETS):
            for state, probs in (_VERSIONED_TABLE if is_versioned else _UNVERSIONED_TABLE).items():
                for kind, p in probs.items():
                    table[b, state, kind] = p
        cum_table = np.cumsum(table, axis=2)
        cum_table /= cum_table[:, :, -1:]
        cum_table = cum_table[:, :, :-1]  # what is left is STOP

        active = np.flatnonzero(~kbf | (rng.random(n_keys) < _BACKFILL_ACTIVE))
        prev = np.full(n_keys, self.start, np.int64)
        last_kind = np.full(n_keys, STOP, np.int64)
        steps = np.zeros(n_keys, np.int64)
        rec = {name: [] for name in ("kid", "gid", "kind", "t", "step", "sc", "tag")}

        for step in range(_MAX_STEPS):
            if not len(active):
                break
            a = active
            ta = top[a]
            tsafe = np.maximum(ta, 0)
            top_marker = (ta >= 0) & v.marker[tsafe]
            state = np.where(nlive[a] == 0, 0, np.where(top_marker, 3, np.where(nlive[a] > 1, 2, 1)))
            u = rng.random(len(a))
            kind = (u[:, None] > cum_table[kb[a], state]).sum(axis=1)
            if step == 0:
                kind[~kbf[a]] = PUT
            kind[(last_kind[a] == PUT) & is_uploads[a]] = GD_SCAN  # GuardDuty scans every new upload
            # A transition needs a colder class to go to; otherwise the event is a tag change instead.
            kind[(kind == LC_TRANS) & (_N_TRANSITIONS[v.sc[tsafe]] == 0)] = TAG

            t = np.empty(len(a), np.int64)
            user = (kind == PUT) | (kind == TAG) | (kind == DM_USER) | (kind == DEL_CUR) | (kind == UNDEL)
            # A key's first event: its creation, or (backfilled keys) a first touch anywhere in the window.
            first = user if step == 0 else np.zeros(len(a), bool)
            later = user & ~first
            t[first] = self._user_times(None, int(first.sum()))
            t[later] = self._user_times(prev[a[later]], int(later.sum()))
            lc = (kind == LC_TRANS) | (kind == LC_EXPIRE) | (kind == DEL_OLD)
            eligible = prev[a[lc]]
            if step == 0:
                # A backfilled object becomes eligible for Lifecycle on any day of the window, not all
                # on its first day: the old population ages steadily.
                old = kbf[a[lc]]
                spread = self.start + (rng.random(int(old.sum())) * (self.end - self.start)).astype(np.int64)
                eligible[old] = spread
            t[lc] = self._lifecycle_times(eligible, kb[a[lc]])
            gd = kind == GD_SCAN
            t[gd] = prev[a[gd]] + rng.integers(3 * SEC, 240 * SEC, int(gd.sum()))
            t -= t % 1000  # S3 stamps records to the millisecond
            go = (kind != STOP) & (t < self.end)
            a, kind, t, ta = a[go], kind[go], t[go], ta[go]
            active = a
            if not len(a):
                break

            gid = ta.copy()
            vb = versioned[a]
            # New versions: CREATEs and delete markers (an expiration in a versioned bucket is a marker).
            new = (kind == PUT) | (kind == DM_USER) | ((kind == LC_EXPIRE) & vb)
            # An unversioned overwrite replaces the object without a DELETE record.
            drop = (kind == PUT) & ~vb & (ta >= 0)
            v.alive[ta[drop]] = False
            ad = a[drop]
            top[ad], bottom[ad], nlive[ad] = -1, -1, 0
            an = a[new]
            ng = v.add(len(an))
            v.key[ng], v.time[ng] = an, t[new]
            v.marker[ng] = kind[new] != PUT
            v.sc[ng] = np.array([_SC[c] for c, _ in _SC_NEW])[_choice(rng, len(ng), [p for _, p in _SC_NEW])]
            v.tag[ng] = self._initial_tags(kp[an])
            old_top = top[an]
            v.below[ng] = old_top
            v.above[old_top[old_top >= 0]] = ng[old_top >= 0]
            bottom[an[old_top < 0]] = ng[old_top < 0]
            top[an] = ng
            nlive[an] += 1
            gid[new] = ng

            upd = (kind == TAG) | (kind == LC_TRANS) | (kind == GD_SCAN)
            tg = ta[kind == TAG]
            v.tag[tg] = (v.tag[tg] + rng.integers(1, len(_TAG_SETS), len(tg))) % len(_TAG_SETS)
            tt = ta[kind == LC_TRANS]
            pick = (rng.random(len(tt)) * _N_TRANSITIONS[v.sc[tt]]).astype(np.int64)
            v.sc[tt] = _TRANSITIONS[v.sc[tt], pick]
            tgd = ta[kind == GD_SCAN]
            v.gd[tgd] = 1 + _choice(rng, len(tgd), _GD_BENIGN_P)

            pop = (kind == DEL_CUR) | (kind == UNDEL) | ((kind == LC_EXPIRE) & ~vb)
            ap, gp = a[pop], ta[pop]
            v.alive[gp] = False
            nb = v.below[gp]
            top[ap] = nb
            v.above[nb[nb >= 0]] = -1
            bottom[ap[nb < 0]] = -1
            nlive[ap] -= 1
            old = kind == DEL_OLD
            ao = a[old]
            go_ = bottom[ao]
            v.alive[go_] = False
            na = v.above[go_]
            bottom[ao] = na
            v.below[na[na >= 0]] = -1
            top[ao[na < 0]] = -1
            nlive[ao] -= 1
            gid[old] = go_

            rec["kid"].append(a)
            rec["gid"].append(gid)
            rec["kind"].append(kind)
            rec["t"].append(t)
            rec["step"].append(steps[a])
            snap = np.where(new | upd, gid, 0)
            rec["sc"].append(v.sc[snap])
            rec["tag"].append(v.tag[snap] * _N_GD + v.gd[snap])
            prev[a] = t
            last_kind[a] = kind
            steps[a] += 1

        r = {f"r_{k}": (np.concatenate(x) if x else np.zeros(0, np.int64)) for k, x in rec.items()}
        return dict(r, kb=kb, kp=kp, kvar=kvar, kbf=kbf, top=top, prev=prev, steps=steps, v=v.trimmed())

    def _initial_tags(self, prefix: np.ndarray) -> np.ndarray:
        tags = _choice(self.rng, len(prefix), _TAG_P)
        sensitive = ((prefix == _P_FINANCE) | (prefix == _P_KMS)) & (self.rng.random(len(prefix)) < 0.5)
        return np.where(sensitive, 2, tags)

    def _apply_keep(self, sim, keep):
        """Drop the keys not kept, and renumber keys and versions in time order.

        Time order makes the gathers that build the journal (sorted by time) nearly sequential in memory, and
        gives object numbers that grow with creation time, as a real counter would.
        """
        v = sim["v"]
        vk = np.flatnonzero(keep[v["key"]])
        vtime = v["time"][vk]
        vorder = vk[np.argsort(vtime, kind="stable")]
        new_gid = np.full(len(v["key"]), -1, np.int64)
        new_gid[vorder] = np.arange(len(vorder))
        first_t = np.full(len(keep), np.iinfo(np.int64).max)
        np.minimum.at(first_t, v["key"][vk], vtime)
        kept = np.flatnonzero(keep)
        korder = kept[np.argsort(first_t[kept], kind="stable")]
        new_kid = np.full(len(keep), -1, np.int64)
        new_kid[korder] = np.arange(len(korder))

        self.kb, self.kp, self.kvar, self.kbf = (sim[n][korder] for n in ("kb", "kp", "kvar", "kbf"))
        self.k_prev, self.k_steps = sim["prev"][korder], sim["steps"][korder]
        top = sim["top"][korder]
        self.k_top = np.where(top >= 0, new_gid[np.maximum(top, 0)], -1)
        self.k_unenc = np.zeros(len(self.kb), bool)
        self.v = {n: a[vorder] for n, a in v.items() if n not in ("below", "above")}
        self.v["key"] = new_kid[self.v["key"]]
        rkeep = keep[sim["r_kid"]]
        r = {n: sim[n][rkeep] for n in ("r_kid", "r_gid", "r_kind", "r_t", "r_step", "r_sc", "r_tag")}
        r["r_kid"] = new_kid[r["r_kid"]]
        r["r_gid"] = new_gid[r["r_gid"]]
        self.r = r
        self._assign_requesters()

    def _assign_requesters(self):
        rng, r = self.rng, self.r
        kind = r["r_kind"]
        n = len(kind)
        versioned = np.array([v for _, v in BUCKETS])[self.kb[r["r_kid"]]]
        user = (kind == PUT) | (kind == TAG) | (kind == DM_USER)
        req = np.full(n, -1, np.int64)
        req[user] = _choice(rng, int(user.sum()), _ACCOUNT_P)
        req[(kind == LC_TRANS) | ((kind == LC_EXPIRE) & versioned)] = _R_LIFECYCLE
        req[kind == GD_SCAN] = _R_GD
        ip = np.full(n, -1, np.int64)
        ip[user] = _choice(rng, int(user.sum()), self.ip_p)
        r["r_req"], r["r_ip"] = req, ip

    # ---- incidents --------------------------------------------------------------------------------------
    def _new_keys(self, n, prefix, backfilled=False):
        base = len(self.kb)
        self.kb = np.concatenate([self.kb, np.full(n, _PREFIXES[prefix][0])])
        self.kp = np.concatenate([self.kp, np.full(n, prefix)])
        self.kvar = np.concatenate([self.kvar, self.rng.integers(0, 1 << 30, n)])
        self.kbf = np.concatenate([self.kbf, np.full(n, backfilled)])
        self.k_unenc = np.concatenate([self.k_unenc, np.zeros(n, bool)])
        self.k_prev = np.concatenate([self.k_prev, np.zeros(n, np.int64)])
        self.k_steps = np.concatenate([self.k_steps, np.zeros(n, np.int64)])
        self.k_top = np.concatenate([self.k_top, np.full(n, -1, np.int64)])
        return base + np.arange(n)

    def _new_versions(self, keys, times, marker, tag=None, bf=False):
        v = self.v
        n = len(keys)
        base = len(v["key"])
        add = {"key": keys, "time": times, "slot": np.zeros(n), "marker": np.full(n, marker),
               "bf": np.full(n, bf), "alive": np.ones(n, bool), "sc": np.full(n, _SC["STANDARD"]),
               "tag": np.zeros(n) if tag is None else tag, "gd": np.zeros(n)}
        for name, arr in add.items():
            v[name] = np.concatenate([v[name], np.asarray(arr, dtype=v[name].dtype)])
        self.k_top[keys] = base + np.arange(n)
        return base + np.arange(n)

    def _add_rows(self, kid, gid, kind, t, req, ip):
        r, v = self.r, self.v
        step = self.k_steps[kid].copy()
        self.k_steps[kid] += 1
        add = {"r_kid": kid, "r_gid": gid, "r_kind": np.full(len(kid), kind), "r_t": t, "r_step": step,
               "r_sc": v["sc"][gid], "r_tag": v["tag"][gid] * _N_GD + v["gd"][gid],
               "r_req": np.full(len(kid), req), "r_ip": np.full(len(kid), ip)}
        for name, arr in add.items():
            r[name] = np.concatenate([r[name], np.asarray(arr, dtype=np.int64)])

    def _plant(self, n_mass, n_unenc):
        rng, start, span = self.rng, self.start, self.end - self.start
        third = start + (2 * span) // 3

        def when():  # whole seconds in the last third, so the manifest's timestamps are exact
            return (third + int(rng.random() * max(span // 3 - 2 * HOUR, 1))) // SEC * SEC

        # 1. Mass delete: markers on objects that are current (not marker-hidden) and untouched after t0.
        t0 = when()
        top = self.k_top
        live = (top >= 0) & ~self.v["marker"][np.maximum(top, 0)]
        last_t = np.where(self.k_steps > 0, self.k_prev, 0)
        cand = np.flatnonzero((self.kp == _P_FINANCE) & live & (last_t < t0))
        if len(cand) < n_mass:
            # Not enough finance objects in a tiny data set: add backfilled ones (inventory only).
            extra = n_mass - len(cand)
            keys = self._new_keys(extra, _P_FINANCE, backfilled=True)
            times = start - (rng.exponential(90.0, extra) * DAY).astype(np.int64) // SEC * SEC - HOUR
            tags = self._initial_tags(np.full(extra, _P_FINANCE))
            self._new_versions(keys, times, False, bf=True, tag=tags)
            cand = np.concatenate([cand, keys])
        victims = np.sort(rng.choice(cand, n_mass, replace=False))
        hidden = self.k_top[victims]
        times = t0 + np.sort(rng.integers(0, 15 * 60, n_mass)) * SEC
        markers = self._new_versions(victims, times, True)
        self.ips = self.ips + [MASS_DELETE_IP]
        self._add_rows(victims, markers, DM_USER, times, _R_ACTOR, len(self.ips) - 1)
        order = np.argsort(times, kind="stable")
        mass = {"victims": victims[order], "hidden": hidden[order], "markers": markers[order], "times": times}

        # 2. Unencrypted objects under the SSE-KMS-only prefix, by a known account from a known IP.
        t1 = when()
        times = t1 + np.sort(rng.integers(0, 30 * 60, n_unenc)) * SEC
        keys = self._new_keys(n_unenc, _P_KMS)
        self.k_unenc[keys] = True
        g = self._new_versions(keys, times, False, tag=self._initial_tags(np.full(n_unenc, _P_KMS)))
        unenc_who = (2, next(i for i, ip in enumerate(self.ips) if ip.startswith("192.0.2.")))
        self._add_rows(keys, g, PUT, times, *unenc_who)
        unenc = {"keys": keys, "gids": g, "times": times}

        # 3. An upload GuardDuty finds malicious, tagged a few minutes after it lands.
        t2 = when()
        t_scan = t2 + int(rng.integers(30, 300)) * SEC
        key = self._new_keys(1, _P_UPLOADS)
        g = self._new_versions(key, np.array([t2]), False)
        mal_who = (1, next(i for i, ip in enumerate(self.ips) if ip.startswith("198.51.100.")))
        self._add_rows(key, g, PUT, np.array([t2]), *mal_who)
        self.v["gd"][g] = 1 + GUARDDUTY_STATUSES.index("THREATS_FOUND")
        self._add_rows(key, g, GD_SCAN, np.array([t_scan]), _R_GD, -1)
        self._planted = {"mass": mass, "unenc": unenc, "unenc_who": unenc_who,
                         "malware": {"key": int(key[0]), "gid": int(g[0]), "t": t2, "t_scan": t_scan,
                                     "who": mal_who}}

    def _incident_manifest(self, keys: pa.Array, vids: pa.Array) -> dict:
        p = self._planted
        key = lambda k: keys[int(k)].as_py()  # noqa: E731
        vid = lambda g: vids[int(g)].as_py()  # noqa: E731
        m, u, mw = p["mass"], p["unenc"], p["malware"]
        hidden = [{"key": key(k), "version_id": vid(h), "marker_version_id": vid(mk)}
                  for k, h, mk in zip(m["victims"], m["hidden"], m["markers"], strict=True)]
        bucket = BUCKETS[PROD][0]
        return {
            "mass_delete": {
                "actor": MASS_DELETE_ACTOR, "ip": MASS_DELETE_IP, "bucket": bucket,
                "prefix": MASS_DELETE_PREFIX,
                "since": _iso(m["times"].min()), "until": _iso(m["times"].max()), "count": len(m["victims"]),
                "hidden_versions": hidden, "marker_version_ids": [h["marker_version_id"] for h in hidden],
            },
            "unencrypted_kms_only": {
                "bucket": bucket, "prefix": KMS_ONLY_PREFIX, "count": len(u["keys"]),
                "keys": [key(k) for k in u["keys"]], "version_ids": [vid(g) for g in u["gids"]],
                "requester": _REQUESTERS[p["unenc_who"][0]], "ip": self.ips[p["unenc_who"][1]],
                "since": _iso(u["times"].min()), "until": _iso(u["times"].max()),
            },
            "malware_upload": {
                "bucket": bucket, "key": key(mw["key"]), "version_id": vid(mw["gid"]),
                "requester": _REQUESTERS[mw["who"][0]], "ip": self.ips[mw["who"][1]],
                "uploaded": _iso(mw["t"]), "scan_timestamp": _iso(mw["t_scan"]),
                "scan_requester": GUARDDUTY_PRINCIPAL, "scan_status": "THREATS_FOUND",
            },
        }

    # ---- materialization --------------------------------------------------------------------------------
    def _key_draws(self) -> dict:
        """The random choices behind key names, drawn up front so the names can be built on another thread."""
        rng, n = self.rng, len(self.kb)
        journal_created = np.flatnonzero(~self.kbf)
        n_hostile = min(len(journal_created), max(len(HOSTILE_STEMS), int(round(_HOSTILE_SHARE * n))))
        # Hostile names go to journal-created objects (so a small set still shows them in the journal).
        return {"stem": rng.integers(0, 1 << 30, n), "ext": rng.integers(0, 1 << 30, n),
                "hostile": np.sort(rng.choice(journal_created, n_hostile, replace=False))}

    def _keys(self, draws: dict) -> tuple[pa.Array, np.ndarray]:
        """Each object's key, `prefix/<dated or named folders>/<stem>-<object number><ext>`, and its rank."""
        n = len(self.kb)
        # A key's date is its first version's; versions are numbered in time order within a key.
        first_g = np.full(n, len(self.v["key"]), np.int64)
        np.minimum.at(first_g, self.v["key"], np.arange(len(self.v["key"])))
        day = self.v["time"][first_g] // DAY
        nvar = np.array([len(p[4]) for p in _PREFIXES])
        var = self.kvar % nvar[self.kp]
        d0 = int(day.min())
        ndays = int(day.max()) - d0 + 1
        code = (self.kp * ndays + (day - d0)) * 8 + var
        uniq, inv = np.unique(code, return_inverse=True)
        heads = []
        for c in uniq.tolist():  # one string per distinct folder, not per object
            p, rest = divmod(c, ndays * 8)
            d, vv = divmod(rest, 8)
            date = datetime(1970, 1, 1) + timedelta(days=d0 + d)
            heads.append(_PREFIXES[p][3].format(Y=date.year, M=f"{date.month:02d}", D=f"{date.day:02d}",
                                                Q=(date.month - 1) // 3 + 1, V=_PREFIXES[p][4][vv]))
        head = pa.array(heads, pa.string()).take(pa.array(inv))

        stems, exts, stem_off, ext_off, n_stem, n_ext = [], [], [], [], [], []
        for p in _PREFIXES:
            stem_off.append(len(stems))
            ext_off.append(len(exts))
            stems.extend(s + "-" for s in p[5])
            exts.extend(p[6])
            n_stem.append(len(p[5]))
            n_ext.append(len(p[6]))
        hostile0 = len(stems)
        stems.extend(s + "-" for s in HOSTILE_STEMS)
        stem_off, ext_off, n_stem, n_ext = map(np.array, (stem_off, ext_off, n_stem, n_ext))
        stem = stem_off[self.kp] + draws["stem"] % n_stem[self.kp]
        ext = ext_off[self.kp] + draws["ext"] % n_ext[self.kp]
        hostile = draws["hostile"]
        stem[hostile] = hostile0 + np.arange(len(hostile)) % len(HOSTILE_STEMS)
        counter = pc.cast(pa.array(np.arange(n, dtype=np.int64) + 1 + self.key_base), pa.string())
        keys = pc.binary_join_element_wise(head, pa.array(stems).take(pa.array(stem)), counter,
                                           pa.array(exts).take(pa.array(ext)), "")
        rank = np.empty(n, np.int64)
        rank[pc.sort_indices(keys).to_numpy()] = np.arange(n)
        return keys, rank

    def _version_attrs(self):
        """Immutable attributes of every version, drawn once per version."""
        rng, v = self.rng, self.v
        n = len(v["key"])
        kp = self.kp[v["key"]]
        bf = v["bf"]
        mu = np.array([p[7] for p in _PREFIXES])[kp]
        sigma = np.array([p[8] for p in _PREFIXES])[kp]
        size = np.clip(np.exp(mu + sigma * rng.standard_normal(n)), 1, 5 * (1 << 40)).astype(np.int64)
        multipart = size >= 100 * _MIB
        etag = _fixed_strings(_hex(_random_bytes(rng, n * 16).reshape(n, 16), _HEX2_LO))
        mp = np.flatnonzero(multipart)
        if len(mp):
            part = np.array([8, 16, 64, 100])[rng.integers(0, 4, len(mp))] * _MIB
            parts = np.minimum(-(-size[mp] // part), 10_000)
            parts_text = pc.cast(pa.array(parts), pa.string())
            suffixed = pc.binary_join_element_wise(etag.take(pa.array(mp)), parts_text, "-")
            pos = np.full(n, -1, np.int64)
            pos[mp] = np.arange(len(mp))
            pick = np.where(multipart, n + pos, np.arange(n))
            etag = pa.concat_arrays([etag, suffixed]).take(pa.array(pick))
        enc = np.where(bf, _choice(rng, n, _ENC_OLD_P), _choice(rng, n, _ENC_NEW_P))
        enc = np.where(kp == _P_KMS, 2, enc)  # the bucket policy there refuses anything but SSE-KMS
        enc = np.where(self.k_unenc[v["key"]], 0, enc)
        kms = np.where(kp == _P_KMS, 0, rng.integers(0, len(KMS_KEY_ARNS), n))
        kms = np.where((enc == 2) | (enc == 3), kms, -1)
        bucket_key = (enc == 2) & (rng.random(n) < 0.6)
        ck = np.where(bf, _choice(rng, n, _CK_OLD_P), _choice(rng, n, _CK_NEW_P))
        um = _choice(rng, n, _USER_METADATA_P)
        # Single PUTs land milliseconds after the request starts; a multipart upload's last_modified_date
        # is when it was initiated, seconds to minutes before the completing CREATE record.
        lag = np.where(multipart, ((size / (40 * _MIB)) + rng.uniform(2, 60, n)) * SEC,
                       5000 + rng.exponential(300_000, n)).astype(np.int64)
        lm = np.where(bf | v["marker"], v["time"], v["time"] - lag // 1000 * 1000)
        vid = _fixed_strings(_random_chars(rng, n, 32, _URLSAFE))
        return dict(size=size, multipart=multipart, etag=etag, enc=enc, kms=kms, bucket_key=bucket_key, ck=ck,
                    um=um, lm=lm, vid=vid)

    def _table(self, target: pa.Schema, kid, gid, kind, t, step, sc, tag, req=None, ip=None,
               request_chars=None, ann=None) -> pa.Table:
        """Rows described by (key, version, kind, time, ...) as a table of `target`'s columns.

        `ann` indexes each annotation row's struct in the annotation events (-1 on object rows).
        """
        n = len(kid)
        attrs, pools = self._attrs, self._pools
        kb = self.kb[kid]
        versioned = self._versioned[kb]
        expire = kind == LC_EXPIRE
        marker = (kind == DM_USER) | (expire & versioned)
        permanent = (kind == DEL_CUR) | (kind == DEL_OLD) | (kind == UNDEL) | (expire & ~versioned)
        annotation = kind >= ANN_PUT
        # Object columns: NULL on permanent deletes (AWS's rule), and on annotation rows when they
        # are generated sparse; a full annotation row carries the version's state, as UPDATE_METADATA does.
        no_object = permanent | (annotation & self._sparse_annotations)
        state = ~marker & ~no_object
        gs = gid[state]
        record_type = np.where(kind == PUT, 0, np.where(marker | permanent, 2, 1))
        record_type = np.where(annotation, 3 + np.maximum(kind - ANN_PUT, 0), record_type)

        def col(values, valid, typ):  # values only where valid; NULL elsewhere
            full = np.zeros(n, values.dtype)
            full[valid] = values
            return pa.array(full, type=typ, mask=~valid)

        def pool_col(pool, idx):
            full = np.full(n, -1, np.int64)
            full[state] = idx
            return _take(pool, full)

        builders = {
            "bucket": lambda: pools["bucket"].take(pa.array(kb)),
            "key": lambda: self._key_strings.take(pa.array(kid)),
            "sequence_number": lambda: self._seq(t, step, kid),
            "record_type": lambda: pools["record_type"].take(pa.array(record_type.astype(np.int8))),
            "record_timestamp": lambda: pa.array(t, type=schema.TIMESTAMP),
            "version_id": lambda: _take(attrs["vid"], np.where(versioned, gid, -1)),
            "is_delete_marker": lambda: pa.array(marker, mask=no_object),
            "size": lambda: pa.array(np.where(marker, 0, attrs["size"][gid]), mask=no_object),
            "last_modified_date": lambda: pa.array(
                np.where(marker, t, attrs["lm"][gid]), type=schema.TIMESTAMP, mask=no_object),
            "e_tag": lambda: _take(attrs["etag"], np.where(state, gid, -1)),
            "storage_class": lambda: pool_col(pools["storage_class"], sc[state]),
            "is_multipart": lambda: col(attrs["multipart"][gs], state, pa.bool_()),
            "encryption_status": lambda: pool_col(pools["enc"], attrs["enc"][gs]),
            "is_bucket_key_enabled": lambda: col(attrs["bucket_key"][gs], state, pa.bool_()),
            "kms_key_arn": lambda: pool_col(pools["kms"], attrs["kms"][gs]),
            "checksum_algorithm": lambda: pool_col(pools["ck"], attrs["ck"][gs]),
            "object_tags": lambda: pool_col(pools["tags"], tag[state]),
            "user_metadata": lambda: pool_col(pools["um"], attrs["um"][gs]),
            "requester": lambda: _take(pools["req"], req),
            "source_ip_address": lambda: _take(pools["ip"], ip),
            "request_id": lambda: _fixed_strings(request_chars, ~permanent),
            # Every version has one, delete markers included; permanent deletes follow the NULL rule.
            # UNCONFIRMED (s3-annotations.md 2.3): whether AWS fills it on DELETE rows.
            "object_join_key": lambda: _take(self._join_keys, np.where(permanent, -1, gid)),
            "annotation": lambda: (pa.nulls(n, schema.ANNOTATION_STRUCT) if ann is None or self.annotations is None
                                   else _take(self._annotation_structs, ann)),
        }
        return pa.Table.from_arrays([builders[f.name]() for f in target], schema=target)

    def _seq(self, t, counter, kid):
        """Sequence numbers: record time, then a per-key counter, then the object number, as 40 hex digits."""
        b = np.empty((len(t), 20), np.uint8)
        b[:, :8] = _u64_bytes(t)
        b[:, 8:12] = _u64_bytes(counter)[:, 4:]
        b[:, 12:] = _u64_bytes(kid + self.key_base)
        return _fixed_strings(_hex(b, _HEX2_UP))

    def write(self, out: Path, runs: bool = False) -> tuple[dict, dict]:
        """Materialize and write the three tables.

        Arrow releases the GIL while it gathers columns and encodes Parquet, so two threads use both cores:
        key names are built beside the version attributes, then the journal is built and written on one
        thread while the inventory is on the other. Every random draw stays on this thread, in a fixed
        order, so the output does not depend on thread timing.

        A shard writes `runs` for _merge_runs: row groups of _MERGE_BATCH rows, so that the merge holds
        little of each run.
        """
        with ThreadPoolExecutor(max_workers=2) as pool:
            return self._write(out, pool, _MERGE_BATCH if runs else ROW_GROUP)

    def _write(self, out: Path, pool: ThreadPoolExecutor, group_rows: int) -> tuple[dict, dict]:
        keys_done = pool.submit(self._keys, self._key_draws())
        self._attrs = self._version_attrs()
        self._key_strings, key_rank = keys_done.result()
        self._versioned = np.array([vv for _, vv in BUCKETS])
        tag_maps = []
        for base in _TAG_SETS:
            for gd in range(_N_GD):
                tags = dict(base)
                if gd:
                    tags[schema.GUARDDUTY_TAG] = GUARDDUTY_STATUSES[gd - 1]
                tag_maps.append(list(tags.items()))
        self._pools = {
            "bucket": pa.array([b for b, _ in BUCKETS]),
            "record_type": pa.array(list(schema.RECORD_TYPES)),
            "storage_class": pa.array(list(schema.STORAGE_CLASSES)),
            "enc": pa.array(list(_ENC)), "kms": pa.array(list(KMS_KEY_ARNS)),
            "ck": pa.array(list(_CHECKSUMS)),
            "tags": pa.array(tag_maps, schema.STRING_MAP),
            "um": pa.array([list(d.items()) for d in _USER_METADATA], schema.STRING_MAP),
            "req": pa.array(list(_REQUESTERS)), "ip": pa.array(self.ips),
        }
        # One object_join_key per version (a new version, or a re-written null version, is a new one).
        self._join_keys = _fixed_strings(_hex(_random_bytes(self.arng, len(self.v["key"]) * 16).reshape(-1, 16),
                                              _HEX2_LO))
        annotations = self.annotations
        if self._planted is not None:
            self.incidents = self._incident_manifest(self._key_strings, self._attrs["vid"])
        if annotations is not None:
            self._annotation_structs = annotations.structs()
            self.incidents.update(annotations.incident_manifest(self))
        bucket_rank = np.argsort(np.argsort([b for b, _ in BUCKETS]))
        kb_rank = bucket_rank[self.kb]

        r = self.r
        # Times are whole milliseconds, and one key never has two records in the same millisecond.
        order = _sort_order([r["r_step"]], r["r_t"] // 1000, kb_rank[r["r_kid"]], key_rank[r["r_kid"]])
        r = {name: arr[order] for name, arr in r.items()}
        r["request_chars"] = _random_chars(self.rng, len(order), 16, _ALNUM_UP)  # drawn on this thread
        r["r_ann"] = np.full(len(order), -1, np.int64)
        journal = r
        if annotations is not None:  # annotation rows interleaved with the object rows, in the same order
            extra = annotations.journal_rows(self)
            both = {name: np.concatenate([r[name], extra[name]]) for name in r}
            merged = _sort_order([both["r_step"]], both["r_t"] // 1000, kb_rank[both["r_kid"]],
                                 key_rank[both["r_kid"]])
            journal = {name: arr[merged] for name, arr in both.items()}
        journal_args = ("kid", "gid", "kind", "t", "step", "sc", "tag", "req", "ip", "request_chars", "ann")
        n_journal = len(journal["r_kid"])

        def journal_slice(lo, hi):
            return self._table(schema.JOURNAL, *(journal[k if k == "request_chars" else f"r_{k}"][lo:hi]
                                                 for k in journal_args))

        for table in ("journal", "inventory", "annotation"):
            (out / table).mkdir(parents=True, exist_ok=True)
        journal_done = pool.submit(_write_parts, out / "journal", schema.JOURNAL,
                                   (journal_slice(lo, hi) for lo, hi in _groups(n_journal)), group_rows)

        # Inventory: each surviving version's last journal row, or its backfilled state if it has none.
        v = self.v
        last = np.full(len(v["key"]), -1, np.int64)
        np.maximum.at(last, r["r_gid"], np.arange(len(order)))  # rows are in time order
        alive = v["alive"]
        rows_j = last[alive & (last >= 0)]
        untouched = np.flatnonzero(alive & (last < 0))
        spec = {
            "kid": np.concatenate([r["r_kid"][rows_j], v["key"][untouched]]),
            "gid": np.concatenate([r["r_gid"][rows_j], untouched]),
            "kind": np.concatenate([r["r_kind"][rows_j], np.where(v["marker"][untouched], DM_USER, PUT)]),
            "t": np.concatenate([r["r_t"][rows_j], v["time"][untouched]]),
            "step": np.concatenate([r["r_step"][rows_j], v["slot"][untouched]]),
            "sc": np.concatenate([r["r_sc"][rows_j], v["sc"][untouched]]),
            "tag": np.concatenate([r["r_tag"][rows_j], v["tag"][untouched] * _N_GD + v["gd"][untouched]]),
        }
        iorder = _sort_order([spec["step"]], kb_rank[spec["kid"]], key_rank[spec["kid"]], spec["t"] // 1000)
        spec = {name: arr[iorder] for name, arr in spec.items()}
        n_inv = len(iorder)
        inventory_files = _write_parts(out / "inventory", schema.INVENTORY, (self._table(
            schema.INVENTORY, **{name: arr[lo:hi] for name, arr in spec.items()}) for lo, hi in _groups(n_inv)),
            group_rows)
        table = (schema.ANNOTATION.empty_table() if annotations is None
                 else annotations.table(self, kb_rank, key_rank))
        annotation_files = _write_parts(out / "annotation", schema.ANNOTATION,
                                        (table.slice(lo, hi - lo) for lo, hi in _groups(table.num_rows)), group_rows)
        files = {"journal": journal_done.result(), "inventory": inventory_files, "annotation": annotation_files}
        return files, {"journal": n_journal, "inventory": n_inv, "annotation": table.num_rows,
                       "annotation_events": n_journal - len(order)}


# --- annotations (the June 2026 launch) ---------------------------------------------------------------
# Apart from the object simulation: annotation events are laid over the versions it made, drawing from
# a random stream of their own, and written as journal rows interleaved with the object rows, plus the
# annotation table. Nothing here changes an object row.
#
# Assumptions where AWS is silent (s3-annotations.md sections 2.3 and 7), chosen to be the harder case
# for queries:
# - Annotation rows share each key's sequence_number space with its object rows (they are ordered by
#   time among them), so "the latest record of a key" can be an annotation row.
# - annotation.sequence_number names a revision: each CREATE_ANNOTATION starts one; the
#   UPDATE_ANNOTATION_METADATA and DELETE_ANNOTATION rows that follow carry it. The annotation table
#   shows the revision it holds.
# - A DELETE_ANNOTATION row carries only annotation.name and annotation.sequence_number (the rest
#   NULL, as a permanent delete's object columns are).
# - Replication status changes (UPDATE_ANNOTATION_METADATA, in the replicated bucket) are made by the
#   S3 service principal, with no source IP.
# - Overwriting an unversioned object or deleting a version for good removes its annotations without
#   a DELETE_ANNOTATION row: they are simply gone from the annotation table.

ANNOTATION_NAMES = ("pii-classification", "retention", "legal-hold", "classification", "ml-labels", "mediainfo")
_A_PII, _A_RET, _A_HOLD, _A_CLASS, _A_ML, _A_MEDIA = range(len(ANNOTATION_NAMES))
ANNOTATION_WRITER = ACCOUNTS[0]  # the compliance team sets pii-classification, retention, legal-hold, classification
LABEL_PIPELINE = ACCOUNTS[1]  # an ML pipeline sets ml-labels and mediainfo
_COMPLIANCE = np.array([True, True, True, True, False, False])
# Per prefix: the annotation names its objects carry, with the chance that a version gets each.
_ANNOTATED = {
    "reports/": ((_A_CLASS, 0.5), (_A_RET, 0.2)), "exports/": ((_A_CLASS, 0.4), (_A_PII, 0.3)),
    "images/": ((_A_ML, 0.6),), MASS_DELETE_PREFIX: ((_A_PII, 0.6), (_A_RET, 0.8), (_A_HOLD, 0.1)),
    KMS_ONLY_PREFIX: ((_A_PII, 0.9), (_A_RET, 0.5), (_A_CLASS, 0.3)), UPLOADS_PREFIX: ((_A_ML, 0.3), (_A_PII, 0.2)),
    "app/": ((_A_RET, 0.05),), "cloudtrail/": ((_A_RET, 0.1),), "video/": ((_A_MEDIA, 0.6), (_A_ML, 0.2)),
    "thumbnails/": ((_A_ML, 0.5),), "raw/": ((_A_MEDIA, 0.4),),
}
_FIRST_WRITE_DAYS = np.array([0.3, 0.5, 1.0, 0.3, 0.01, 0.01])  # office-hours days from upload to first write
_OVERWRITES_P = (0.7, 0.2, 0.1)  # 0, 1 or 2 overwrites in the window
_DELETE_P = 0.1
_PREEXISTING_P = 0.6  # an object older than the journal had the annotation already (the table's backfill)
_ANN_CHECKSUMS = (None, "CRC64NVME", "SHA256", "XXHASH3", "SHA512")
_ANN_CHECKSUM_P = (0.55, 0.25, 0.1, 0.05, 0.05)
_REPLICATION = (None,) + schema.REPLICATION_STATUSES
_R_PENDING, _R_COMPLETED, _R_FAILED = 1, 2, 3
_FAILED_P = 0.03
# Slots of one annotation's chain of events: write, its replication update, two overwrites (each
# with its update), then a delete. Present slots are in time order, so a chain cut at `hi` is a prefix.
_SLOT_KIND = np.array([ANN_PUT, ANN_META, ANN_PUT, ANN_META, ANN_PUT, ANN_META, ANN_DEL])
_SLOT_WRITE = np.array([0, 0, 2, 2, 4, 4, -1])  # the write slot each slot belongs to (-1: the delete)
_TAMPER_DELETES, _TAMPER_REWRITES = 8, 4
_TAMPER_ROWS = _TAMPER_DELETES + 2 * _TAMPER_REWRITES  # a rewrite in the replicated bucket brings an update
_MIN_GAP = 700 * SEC  # between two writes of one annotation: more than its replication update takes


def _annotation_payloads() -> tuple[list[str], np.ndarray, np.ndarray, dict[int, int]]:
    """Every payload text, each name's range [lo, hi) of them, and the incident's rewrites."""
    labels = ("cat", "dog", "outdoor", "person", "document", "car", "invoice", "日本語ラベル",
              "<script>alert(1)</script>", 'say "cheese"')
    by_name: dict[int, list[str]] = {
        _A_PII: [json.dumps({"pii": True, "categories": c, "scanner": "dlp-2026.06"})
                 for c in (["email"], ["email", "name"], ["ssn"], ["iban", "name"])]
        + [json.dumps({"pii": False, "categories": [], "scanner": "dlp-2026.06"}),
           json.dumps({"pii": True, "categories": ["name"], "reviewed_by": "o'brien"})],
        _A_RET: ["7y", "10y", "90d", "3y", json.dumps({"policy": "sec-17a-4", "retain_until": "2033-12-31"}),
                 json.dumps({"policy": "gdpr-erasure", "retain_until": "2027-06-30"})],
        _A_HOLD: ["ON", json.dumps({"hold": True, "matter": "case-2026-0142", "custodian": "Smith, John"})],
        _A_CLASS: ["confidential", "internal", "public", "restricted", "confidential\nreview: <b>legal</b>, \"Q3\""],
        _A_ML: [json.dumps({"labels": [labels[i], labels[(i * 3 + 1) % len(labels)]], "model": "vision-v3",
                            "confidence": round(0.55 + 0.04 * i, 2)}, ensure_ascii=i % 2 == 0)
                for i in range(len(labels))],
        _A_MEDIA: [json.dumps({"codec": codec, "audio_tracks": tracks, "duration_s": duration})
                   for codec in ("h264", "hevc") for tracks in (1, 2, 10) for duration in (12.5, 3600.25)],
    }
    texts: list[str] = []
    lo, hi = np.zeros(len(ANNOTATION_NAMES), np.int64), np.zeros(len(ANNOTATION_NAMES), np.int64)
    for name in range(len(ANNOTATION_NAMES)):
        lo[name] = len(texts)
        texts.extend(by_name[name])
        hi[name] = len(texts)
    tamper = {_A_PII: len(texts), _A_RET: len(texts) + 1}  # the incident's values, never drawn otherwise
    texts += [json.dumps({"pii": False, "categories": [], "scanner": "manual-override"}), "1d"]
    return texts, lo, hi, tamper


_PAYLOADS, _PAYLOAD_LO, _PAYLOAD_HI, _TAMPER_PAYLOAD = _annotation_payloads()
_PAYLOAD_SIZES = np.array([len(t.encode("utf-8")) for t in _PAYLOADS], np.int64)
_PAYLOAD_ETAGS = [hashlib.md5(t.encode("utf-8")).hexdigest() for t in _PAYLOADS]  # a single-part upload's ETag


class _Annotations:
    """Annotation events over one simulated window's versions, and the annotation table they leave."""

    def __init__(self, world: "_World", rng: np.random.Generator, n_events: int, tamper: bool):
        self.rng = rng
        self.version_base = world.key_base  # a shard's revisions are numbered apart, as its objects are
        v, r = world.v, world.r
        n_versions = len(v["key"])
        never = np.iinfo(np.int64).max
        ends = np.full(n_versions, never)  # when each version stops existing (never: alive at the end)
        versioned = np.array([vv for _, vv in BUCKETS])
        kind, rv = r["r_kind"], versioned[world.kb[r["r_kid"]]]
        gone = (kind == DEL_CUR) | (kind == DEL_OLD) | (kind == UNDEL) | ((kind == LC_EXPIRE) & ~rv)
        np.minimum.at(ends, r["r_gid"][gone], r["r_t"][gone])
        by_key = np.lexsort((v["time"], v["key"]))  # an unversioned overwrite ends the version below
        same = (v["key"][by_key][1:] == v["key"][by_key][:-1]) & ~versioned[world.kb[v["key"][by_key][1:]]]
        ends[by_key[:-1][same]] = np.minimum(ends[by_key[:-1][same]], v["time"][by_key[1:][same]])
        first_event = np.full(n_versions, never)
        np.minimum.at(first_event, r["r_gid"], r["r_t"])
        self.alive = ends == never
        # A backfilled version's state before its first journal record is not simulated, so it is
        # annotated only after that record (or at any time, if it has none in the window).
        self.lo = np.maximum(v["time"], world.start)
        touched = v["bf"] & (first_event < never)
        self.lo[touched] = np.maximum(self.lo[touched], first_event[touched])
        self.hi = np.minimum(ends, world.end)

        prob = np.zeros((len(_PREFIXES), len(ANNOTATION_NAMES)))
        for i, p in enumerate(_PREFIXES):
            for name, chance in _ANNOTATED.get(p[1], ()):
                prob[i, name] = chance
        kp = world.kp[v["key"]]
        gs, names = [], []
        for name in range(len(ANNOTATION_NAMES)):
            can = np.flatnonzero((prob[kp, name] > 0) & ~v["marker"])
            pick = can[rng.random(len(can)) < prob[kp[can], name]]
            gs.append(pick)
            names.append(np.full(len(pick), name))
        g, name = np.concatenate(gs), np.concatenate(names)
        taken = np.argsort(rng.random(len(g)), kind="stable")  # the order in which annotations are taken
        g, name = g[taken], name[taken]
        self.c: dict | None = None  # the chains: one row of slots per annotation (see _chains)
        # Chains are made a batch at a time, in the order taken, until they hold n_events events: a
        # large bucket has far more candidates than the share needs.
        done = events = 0
        while done < len(g) and events < n_events:
            batch = max(4096, int((n_events - events) * 0.8))  # about 1.5 to 3 events per annotation
            self._chains(world, g[done:done + batch], name[done:done + batch])
            events = int(self.c["valid"].sum())
            done += batch
        self._cut(n_events)
        self.ips = self._writer_ips(world)
        self.tamper: dict | None = None
        if tamper:
            world.ips = world.ips + [TAMPER_IP]
            self._plant(world)
        self._events(world)

    # ---- simulation -------------------------------------------------------------------------------------
    def _office(self, world, lo, hi) -> np.ndarray:
        """A time in [lo, hi), weighted by the office-hours rhythm (whole milliseconds)."""
        u_lo, u_hi = self._u(world, lo), self._u(world, hi)
        return self._t(world, u_lo + self.rng.random(len(lo)) * (u_hi - u_lo))

    def _after(self, world, prev, mean_days) -> np.ndarray:
        """The next time after prev, an exponential gap of office-hours time away (the end if past it)."""
        u = self._u(world, prev) + self.rng.exponential(mean_days / world.days, len(prev))
        return np.where(u >= 1.0, world.end, np.maximum(self._t(world, np.minimum(u, 1.0)), prev + 1000))

    @staticmethod
    def _u(world, t) -> np.ndarray:
        t = np.clip(t, world.start, world.end)
        seg = np.clip((t - world.start) // HOUR, 0, len(world.w) - 1)
        return world.cdf[seg] + world.w[seg] * ((t - world.start - seg * HOUR) / HOUR)

    @staticmethod
    def _t(world, u) -> np.ndarray:
        seg = np.clip(np.searchsorted(world.cdf, u, side="right") - 1, 0, len(world.w) - 1)
        t = world.start + seg * HOUR + ((u - world.cdf[seg]) / world.w[seg] * HOUR).astype(np.int64)
        return np.minimum(t, world.end) // 1000 * 1000

    def _chains(self, world, g, name, n_over=None, delete=None, first=None) -> None:
        """Each annotation's events, as slots (see _SLOT_KIND); appended to the chains made so far."""
        rng, v = self.rng, world.v
        n = len(g)
        lo, hi = self.lo[g], self.hi[g]
        pre = (v["time"][g] < world.start) & (rng.random(n) < _PREEXISTING_P)
        if first is not None:  # the incident's fallback: exactly one write, before a given time
            pre = v["time"][g] < world.start
        pre_t = (v["time"][g] + (rng.random(n) * (world.start - v["time"][g])).astype(np.int64)) // 1000 * 1000
        if n_over is None:
            n_over = _choice(rng, n, _OVERWRITES_P)
            delete = rng.random(n) < _DELETE_P
        fresh = v["time"][g] >= world.start
        t0 = np.where(fresh, self._after(world, lo, _FIRST_WRITE_DAYS[name]), self._office(world, lo, hi))
        if first is not None:
            t0 = self._office(world, lo, first)
        times = np.full((n, 7), world.end + DAY, np.int64)
        present = np.zeros((n, 7), bool)
        times[:, 0], present[:, 0] = t0, ~pre
        last = np.where(pre, lo, t0)
        for k in (1, 2):
            tk = self._after(world, last, 2.0) + _MIN_GAP
            present[:, 2 * k] = n_over >= k
            times[:, 2 * k] = tk
            last = np.where(present[:, 2 * k], tk, last)
        replicated = world.kb[v["key"][g]] == PROD
        for k in (0, 1, 2):
            present[:, 2 * k + 1] = present[:, 2 * k] & replicated
            times[:, 2 * k + 1] = times[:, 2 * k] + rng.integers(5 * SEC, 600 * SEC, n) // 1000 * 1000
        present[:, 6], times[:, 6] = delete, self._after(world, last, 1.5) + _MIN_GAP
        payload = _PAYLOAD_LO[name][:, None] + (rng.random((n, 7)) * (_PAYLOAD_HI - _PAYLOAD_LO)[name][:, None]
                                                ).astype(np.int64)
        status = np.where(rng.random((n, 7)) < _FAILED_P, _R_FAILED, _R_COMPLETED)
        chain = {"g": g, "name": name, "pre": pre, "pre_t": pre_t, "times": times,
                 "valid": present & (times < hi[:, None]), "payload": payload, "status": status,
                 "checksum": _choice(rng, n * 8, _ANN_CHECKSUM_P).reshape(n, 8),  # 7 slots, then the pre revision
                 "pre_status": np.where(rng.random(n) < _FAILED_P, _R_FAILED, _R_COMPLETED),
                 "pre_payload": _PAYLOAD_LO[name] + (rng.random(n) * (_PAYLOAD_HI - _PAYLOAD_LO)[name]
                                                     ).astype(np.int64)}
        self.c = chain if self.c is None else {k: np.concatenate([self.c[k], chain[k]]) for k in chain}

    def _cut(self, n_events: int) -> None:
        """Keep annotations in the order taken until they hold exactly n_events events."""
        c = self.c
        cum = np.cumsum(c["valid"].sum(axis=1))
        if len(cum) and cum[-1] > n_events:
            i = int(np.searchsorted(cum, n_events))  # the first chain that reaches n_events
            keep = n_events - (int(cum[i - 1]) if i else 0)
            slots = np.flatnonzero(c["valid"][i])
            c["valid"][i, slots[keep:]] = False
            self.c = {k: a[:i + 1] for k, a in c.items()}
        c = self.c
        # An annotation with no revision (its first write fell after its version's end) never existed.
        real = c["pre"] | c["valid"][:, 0]
        self.c = {k: a[real] for k, a in c.items()}

    def _writer_ips(self, world) -> np.ndarray:
        """Source IPs of the two writers, three draws each: compliance from three internal addresses,
        the pipeline from two (the first twice as often)."""
        internal = [i for i, ip in enumerate(world.ips) if ip.startswith("10.0.")]
        return np.array([internal[:3], internal[3:5] + internal[3:4]])

    def _plant(self, world) -> None:
        """The incident: an unexpected account, from a new IP, deletes and rewrites compliance annotations."""
        rng, v, c = self.rng, world.v, self.c
        span = world.end - world.start
        third = world.start + (2 * span) // 3
        t_inc = (third + int(rng.random() * max(span // 3 - 2 * HOUR, 1))) // SEC * SEC
        protected = np.isin(c["name"], (_A_PII, _A_RET, _A_HOLD))
        keys = v["key"][c["g"]]
        where = (world.kb[keys] == PROD) & np.isin(world.kp[keys], (_P_FINANCE, _P_KMS))
        latest = np.where(c["valid"], c["times"], 0).max(axis=1)
        existed = c["pre"] | (c["valid"][:, 0] & (c["times"][:, 0] < t_inc - HOUR))
        quiet = (latest < t_inc - HOUR) & ~c["valid"][:, 6] & self.alive[c["g"]]
        victims = list(np.flatnonzero(protected & where & existed & quiet))
        need = _TAMPER_DELETES + _TAMPER_REWRITES - len(victims)
        if need > 0:
            # A small data set: give the first versions that qualify a pii-classification written
            # before the incident (or backfilled, for objects older than the journal).
            have = set(zip(c["g"].tolist(), c["name"].tolist(), strict=True))
            ok = np.flatnonzero(~v["marker"] & self.alive & (world.kb[v["key"]] == PROD)
                                & np.isin(world.kp[v["key"]], (_P_FINANCE, _P_KMS)) & (self.lo < t_inc - 2 * HOUR))
            extra = np.array([g for g in ok if (g, _A_PII) not in have][:need], np.int64)
            if len(extra):
                before = len(c["g"])
                self._chains(world, extra, np.full(len(extra), _A_PII), n_over=np.zeros(len(extra), np.int64),
                             delete=np.zeros(len(extra), bool), first=np.full(len(extra), t_inc - 2 * HOUR))
                victims += list(range(before, before + len(extra)))
        c = self.c
        victims = np.array(sorted(victims, key=lambda i: (c["name"][i] not in (_A_PII, _A_RET), i)), np.int64)
        rewrites = victims[:_TAMPER_REWRITES]
        deletes = victims[_TAMPER_REWRITES:_TAMPER_REWRITES + _TAMPER_DELETES]
        rewrites = rewrites[np.isin(c["name"][rewrites], (_A_PII, _A_RET))]
        chosen = np.concatenate([rewrites, deletes])
        times = t_inc + np.sort(rng.integers(0, 10 * 60, len(chosen))) * SEC
        self.tamper = {"pairs": chosen, "t": times, "rewrite": np.arange(len(chosen)) < len(rewrites),
                       "payload": np.array([_TAMPER_PAYLOAD.get(int(n), -1) for n in c["name"][chosen]], np.int64),
                       "meta_t": times + rng.integers(5 * SEC, 600 * SEC, len(chosen)) // 1000 * 1000}

    # ---- events and state -------------------------------------------------------------------------------
    def _revision(self) -> dict:
        """Per chain and slot, the revision (the write) it concerns: payload, time, checksum.

        The delete slot's revision is the chain's latest (its last write, or the backfilled one),
        whether or not the delete happens: column 6 is each annotation's latest revision.
        """
        c = self.c
        n = len(c["g"])
        write_slot = np.broadcast_to(_SLOT_WRITE, (n, 7)).copy()
        writes = np.where(c["valid"][:, [0, 2, 4]], [0, 2, 4], -1).max(axis=1)
        write_slot[:, 6] = writes
        rows = np.arange(n)[:, None]
        ws = np.maximum(write_slot, 0)
        own = write_slot >= 0
        return {"payload": np.where(own, c["payload"][rows, ws], c["pre_payload"][:, None]),
                "t": np.where(own, c["times"][rows, ws], c["pre_t"][:, None]),
                "checksum": np.where(own, c["checksum"][rows, ws], c["checksum"][:, 7:8]),
                "last_write": writes}

    def _events(self, world) -> None:
        """The flat list of events (chains' valid slots, then the incident's), in no particular order."""
        c, v = self.c, world.v
        rev = self._revision()
        pair, slot = np.nonzero(c["valid"])
        kind = _SLOT_KIND[slot]
        replicated = world.kb[v["key"][c["g"][pair]]] == PROD
        e = {"pair": pair, "kind": kind, "t": c["times"][pair, slot],
             "payload": rev["payload"][pair, slot], "rev_t": rev["t"][pair, slot],
             "checksum": rev["checksum"][pair, slot],
             "status": np.where(kind == ANN_META, c["status"][pair, slot],
                                np.where((kind == ANN_PUT) & replicated, _R_PENDING, 0)),
             "actor": np.where(kind == ANN_META, _R_LIFECYCLE, np.where(_COMPLIANCE[c["name"][pair]], 0, 1))}
        if self.tamper is not None:
            tp = self.tamper
            n = len(tp["pairs"])
            rewrite = tp["rewrite"]
            old_payload, old_t = rev["payload"][tp["pairs"], 6], rev["t"][tp["pairs"], 6]
            tp["old_payload"] = old_payload
            meta = tp["pairs"][rewrite]
            add = {"pair": np.concatenate([tp["pairs"], meta]),
                   "kind": np.concatenate([np.where(rewrite, ANN_PUT, ANN_DEL), np.full(len(meta), ANN_META)]),
                   "t": np.concatenate([tp["t"], tp["meta_t"][rewrite]]),
                   "payload": np.concatenate([np.where(rewrite, tp["payload"], old_payload), tp["payload"][rewrite]]),
                   "rev_t": np.concatenate([np.where(rewrite, tp["t"], old_t), tp["t"][rewrite]]),
                   "checksum": np.zeros(n + len(meta), np.int64),
                   "status": np.concatenate([np.where(rewrite, _R_PENDING, 0), np.full(len(meta), _R_COMPLETED)]),
                   "actor": np.concatenate([np.full(n, _R_TAMPER), np.full(len(meta), _R_LIFECYCLE)])}
            e = {k: np.concatenate([e[k], add[k]]) for k in e}
        e["g"] = c["g"][e["pair"]]
        e["name"] = c["name"][e["pair"]]
        writer = e["actor"] < 2
        ip = np.full(len(e["g"]), -1, np.int64)
        ip[writer] = self.ips[e["actor"][writer], self.rng.integers(0, 3, int(writer.sum()))]
        ip[e["actor"] == _R_TAMPER] = len(world.ips) - 1
        e["ip"] = ip
        e["req"] = e["actor"]  # an index into _REQUESTERS: 0 and 1 are the two writers' accounts
        self.e = e

    def final_state(self, world) -> dict:
        """Each annotation that exists at the end: its chain, and the revision the table shows."""
        c, v = self.c, world.v
        rev = self._revision()
        last = rev["last_write"]
        rows = np.arange(len(c["g"]))
        lw = np.maximum(last, 0)
        payload, t, checksum = rev["payload"][:, 6].copy(), rev["t"][:, 6].copy(), rev["checksum"][:, 6].copy()
        replicated = world.kb[v["key"][c["g"]]] == PROD
        meta_ok = c["valid"][rows, np.minimum(lw + 1, 6)] & (last >= 0)
        status = np.where(last >= 0, np.where(meta_ok, c["status"][rows, np.minimum(lw + 1, 6)], _R_PENDING),
                          c["pre_status"])
        status = np.where(replicated, status, 0)
        exists = ~c["valid"][:, 6] & self.alive[c["g"]]
        if self.tamper is not None:
            tp = self.tamper
            rw = tp["pairs"][tp["rewrite"]]
            exists[tp["pairs"][~tp["rewrite"]]] = False
            payload[rw], t[rw], checksum[rw] = tp["payload"][tp["rewrite"]], tp["t"][tp["rewrite"]], 0
            status[rw] = np.where(tp["meta_t"][tp["rewrite"]] < world.end, _R_COMPLETED, _R_PENDING)
        keep = np.flatnonzero(exists)
        return {"g": c["g"][keep], "name": c["name"][keep], "payload": payload[keep], "t": t[keep],
                "checksum": checksum[keep], "status": status[keep]}

    # ---- materialization --------------------------------------------------------------------------------
    def journal_rows(self, world) -> dict:
        """The events as rows of the journal's row arrays (see _World._write), with the index of each struct."""
        e, v, r = self.e, world.v, world.r
        n = len(e["g"])
        kid = v["key"][e["g"]]
        # A key's records share one counter space; annotation rows count from 2^31, after the object
        # rows' counters, so a record's sequence number stays unique and ordered by time.
        order = np.lexsort((e["t"], kid))
        ks = kid[order]
        first = np.r_[True, ks[1:] != ks[:-1]] if n else np.zeros(0, bool)
        start = np.maximum.accumulate(np.where(first, np.arange(n), 0)) if n else np.zeros(0, np.int64)
        step = np.empty(n, np.int64)
        step[order] = (1 << 31) + np.arange(n) - start
        # The version's state at the event (for full rows): after its latest object record at or before
        # it, or as backfilled when it has none. Object records sorted by (version, time); each event
        # finds its place among them.
        g = e["g"]
        at = _latest_at_or_before(r["r_gid"], r["r_t"], g, e["t"], world.start)
        sc = np.where(at >= 0, r["r_sc"][np.maximum(at, 0)], v["sc"][g])
        tag = np.where(at >= 0, r["r_tag"][np.maximum(at, 0)], v["tag"][g] * _N_GD + v["gd"][g])
        return {"r_kid": kid, "r_gid": g, "r_kind": e["kind"], "r_t": e["t"], "r_step": step, "r_sc": sc,
                "r_tag": tag, "r_req": e["req"], "r_ip": e["ip"], "r_ann": np.arange(n),
                "request_chars": _random_chars(self.rng, n, 16, _ALNUM_UP)}

    def structs(self) -> pa.StructArray:
        """The journal's `annotation` value of each event (a DELETE_ANNOTATION names only the revision)."""
        e = self.e
        delete = e["kind"] == ANN_DEL
        return pa.StructArray.from_arrays([
            pa.array(ANNOTATION_NAMES).take(pa.array(e["name"])),
            _annotation_seq(e["rev_t"], e["name"], e["g"] + self.version_base),
            pa.array(e["rev_t"], schema.TIMESTAMP, mask=delete),
            pa.array(_PAYLOAD_SIZES[e["payload"]], mask=delete),
            _take(pa.array(_PAYLOAD_ETAGS), np.where(delete, -1, e["payload"])),
            _take(pa.array(list(_REPLICATION)), np.where(e["status"] > 0, e["status"], -1)),
            _take(pa.array(list(_ANN_CHECKSUMS)), np.where(delete | (e["checksum"] == 0), -1, e["checksum"])),
        ], fields=list(schema.ANNOTATION_STRUCT))

    def table(self, world, kb_rank, key_rank) -> pa.Table:
        """The annotation table: each existing annotation's latest revision, ordered by bucket, key, version, name."""
        f = self.final_state(world)
        v = world.v
        kid = v["key"][f["g"]]
        order = _sort_order([f["name"]], kb_rank[kid], key_rank[kid], f["g"])
        f = {k: a[order] for k, a in f.items()}
        kid = kid[order]
        versioned = world._versioned[world.kb[kid]]
        columns = {
            "bucket": world._pools["bucket"].take(pa.array(world.kb[kid])),
            "object_key": world._key_strings.take(pa.array(kid)),
            "object_version_id": _take(world._attrs["vid"], np.where(versioned, f["g"], -1)),
            "object_join_key": world._join_keys.take(pa.array(f["g"])),
            "name": pa.array(ANNOTATION_NAMES).take(pa.array(f["name"])),
            "sequence_number": _annotation_seq(f["t"], f["name"], f["g"] + self.version_base),
            "last_modified_date": pa.array(f["t"], schema.TIMESTAMP),
            "size": pa.array(_PAYLOAD_SIZES[f["payload"]]),
            "e_tag": pa.array(_PAYLOAD_ETAGS).take(pa.array(f["payload"])),
            "checksum_algorithm": _take(pa.array(list(_ANN_CHECKSUMS)), np.where(f["checksum"] > 0, f["checksum"], -1)),
            "replication_status": _take(pa.array(list(_REPLICATION)), np.where(f["status"] > 0, f["status"], -1)),
            "text_value": pa.array(_PAYLOADS).take(pa.array(f["payload"])),
        }
        return pa.Table.from_arrays([columns[name] for name in schema.ANNOTATION.names], schema=schema.ANNOTATION)

    def incident_manifest(self, world) -> dict:
        if self.tamper is None:
            return {}
        tp, c = self.tamper, self.c
        key = lambda g: world._key_strings[int(world.v["key"][g])].as_py()  # noqa: E731
        vid = lambda g: world._attrs["vid"][int(g)].as_py()  # noqa: E731
        items = []
        for i, pair in enumerate(tp["pairs"]):
            g = c["g"][pair]
            item = {"key": key(g), "version_id": vid(g), "name": ANNOTATION_NAMES[c["name"][pair]],
                    "at": _iso(tp["t"][i]), "previous_text": _PAYLOADS[tp["old_payload"][i]]}
            if tp["rewrite"][i]:
                item["text"] = _PAYLOADS[tp["payload"][i]]
            items.append(item)
        return {"annotation_tampering": {
            "actor": TAMPER_ACTOR, "ip": TAMPER_IP, "bucket": BUCKETS[PROD][0],
            "since": _iso(tp["t"].min()), "until": _iso(tp["t"].max()), "count": len(items),
            "deleted": [x for x, rw in zip(items, tp["rewrite"], strict=True) if not rw],
            "rewritten": [x for x, rw in zip(items, tp["rewrite"], strict=True) if rw],
        }}


def _latest_at_or_before(group: np.ndarray, t: np.ndarray, q_group: np.ndarray, q_t: np.ndarray,
                         t0: int) -> np.ndarray:
    """For each query (q_group, q_t), the index of the row of the same group with the latest t <= q_t; -1 if none.

    Times are microseconds, whole milliseconds from t0 on. Rows and queries are sorted together by
    (group, time, row before query); each query then takes the last row before it. (group, time,
    kind) is packed into one int64 when it fits, which sorts several times faster than a lexsort.
    """
    n = len(group)
    both_g, both_t = np.concatenate([group, q_group]), np.concatenate([(t - t0) // 1000, (q_t - t0) // 1000])
    is_query = np.concatenate([np.zeros(n, bool), np.ones(len(q_group), bool)])
    bits = int(both_t.max(initial=0)).bit_length() + 1
    if both_t.min(initial=0) >= 0 and int(both_g.max(initial=0)).bit_length() + bits <= 62:
        merged = np.argsort((both_g << bits) | (both_t << 1) | is_query, kind="stable")
    else:
        merged = np.lexsort((is_query, both_t, both_g))
    position = np.where(is_query[merged], -1, np.arange(len(merged)))
    latest = np.maximum.accumulate(position) if len(merged) else position
    source = np.where(latest >= 0, merged[np.maximum(latest, 0)], -1)
    same = (source >= 0) & (both_g[np.maximum(source, 0)] == both_g[merged])
    out = np.empty(len(q_group), np.int64)
    queries = is_query[merged]
    out[merged[queries] - n] = np.where(same, source, -1)[queries]
    return out


def _annotation_seq(t: np.ndarray, name: np.ndarray, g: np.ndarray) -> pa.Array:
    """annotation.sequence_number of a revision: its write time, the name, the version, as 40 hex digits."""
    b = np.empty((len(t), 20), np.uint8)
    b[:, :8] = _u64_bytes(t)
    b[:, 8:12] = _u64_bytes(name)[:, 4:]
    b[:, 12:] = _u64_bytes(g)
    return _fixed_strings(_hex(b, _HEX2_UP))


def _sort_order(tiebreak: list[np.ndarray], *major: np.ndarray) -> np.ndarray:
    """Row order by the `major` columns (non-negative ints, most significant first), then by `tiebreak`.

    The major columns are packed into one int64 when they fit, which sorts several times faster than a
    lexsort; `tiebreak` only matters when they do not fit or leave ties.
    """
    shifted = [m - m.min() if len(m) else m for m in major]
    bits = [int(m.max()).bit_length() if len(m) else 0 for m in shifted]
    if sum(bits) <= 62:
        packed = np.zeros(len(major[0]), np.int64)
        for m, b in zip(shifted, bits, strict=True):
            packed = (packed << b) | m
        order = np.argsort(packed)
        ordered = packed[order]
        if not (ordered[1:] == ordered[:-1]).any():
            return order
    return np.lexsort(tuple(tiebreak[::-1]) + tuple(major[::-1]))


class _Versions:
    """Growable per-version arrays for the simulation."""

    _FIELDS = {"key": np.int64, "time": np.int64, "slot": np.int64, "marker": bool, "bf": bool, "alive": bool,
               "sc": np.int64, "tag": np.int64, "gd": np.int64, "below": np.int64, "above": np.int64}

    def __init__(self, capacity: int):
        self.n = 0
        for name, dtype in self._FIELDS.items():
            setattr(self, name, np.zeros(capacity, dtype))

    def add(self, count: int) -> np.ndarray:
        need = self.n + count
        cap = len(self.key)
        if need > cap:
            cap = max(need, cap * 3 // 2)
            for name in self._FIELDS:
                old = getattr(self, name)
                grown = np.zeros(cap, old.dtype)
                grown[:self.n] = old[:self.n]
                setattr(self, name, grown)
        g = np.arange(self.n, need)
        self.alive[g] = True
        self.above[g] = -1
        self.below[g] = -1
        self.n = need
        return g

    def trimmed(self) -> dict:
        return {name: getattr(self, name)[:self.n] for name in self._FIELDS}


# --- other sources of the same data: a classic S3 Inventory report, an Iceberg copy -----------------
# Separate from generate(): they read a generated data folder and never change it.

REPORT_DESTINATION = "inventory-dest"  # the report's destination bucket (a local folder stands in for it)
REPORT_CONFIG = "s3meta-{fmt}"
LOCKED_PREFIX = MASS_DELETE_PREFIX  # the prefix whose objects must be under Object Lock
OWNER_ID = "79a59df900b949e55d96a1e698fbacedfd6e09d98eacf8f8d5218e7cd47ef2be"  # AWS's sample canonical ID
_GROUPS = {"AllUsers": "http://acs.amazonaws.com/groups/global/AllUsers",
           "AuthenticatedUsers": "http://acs.amazonaws.com/groups/global/AuthenticatedUsers"}
_REPORT_FIELDS = (
    ("Bucket", "bucket", "string"), ("Key", "key", "string"), ("VersionId", "version_id", "string"),
    ("IsLatest", "is_latest", "boolean"), ("IsDeleteMarker", "is_delete_marker", "boolean"),
    ("Size", "size", "bigint"), ("LastModifiedDate", "last_modified_date", "timestamp"),
    ("ETag", "e_tag", "string"), ("StorageClass", "storage_class", "string"),
    ("IsMultipartUploaded", "is_multipart_uploaded", "boolean"),
    ("ReplicationStatus", "replication_status", "string"),
    ("EncryptionStatus", "encryption_status", "string"),
    ("ObjectLockRetainUntilDate", "object_lock_retain_until_date", "timestamp"),
    ("ObjectLockMode", "object_lock_mode", "string"),
    ("ObjectLockLegalHoldStatus", "object_lock_legal_hold_status", "string"),
    ("ObjectLockEventHoldStatus", "object_lock_event_hold_status", "string"),
    ("ObjectLockEventHoldDuration", "object_lock_event_hold_duration", "bigint"),
    ("IntelligentTieringAccessTier", "intelligent_tiering_access_tier", "string"),
    ("BucketKeyStatus", "bucket_key_status", "string"), ("ChecksumAlgorithm", "checksum_algorithm", "string"),
    ("ObjectAccessControlList", "object_access_control_list", "string"), ("ObjectOwner", "object_owner", "string"),
    ("LifecycleExpirationDate", "lifecycle_expiration_date", "timestamp"),
    ("IntelligentTieringReferenceDate", "intelligent_tiering_reference_date", "timestamp"),
)
# What a report lists unless told otherwise: every field AWS's Athena DDL names (the newer event hold
# and tiering reference date fields only on request).
REPORT_FIELDS = tuple(name for name, _, _ in _REPORT_FIELDS
                      if name not in ("ObjectLockEventHoldStatus", "ObjectLockEventHoldDuration",
                                      "IntelligentTieringReferenceDate"))
_REPORT_CHECKSUMS = {"SHA256": "SHA-256", "SHA1": "SHA-1", "CRC64NVME": "CRC64-NVME", "CRC32": "CRC32",
                     "CRC32C": "CRC32C"}  # AWS's report spellings, as its sample shows


def _acl(grants: list[tuple[str, str, str]]) -> str:
    import base64
    doc = {"version": "2022-11-10", "status": "AVAILABLE",
           "grants": [{"type": t, ("uri" if t == "Group" else "canonicalId"): who, "permission": p}
                      for t, who, p in grants]}
    return base64.b64encode(json.dumps(doc, separators=(",", ":")).encode()).decode()


def report_rows(data_dir: str | os.PathLike, seed: int = 7) -> pa.Table:
    """The generated inventory with a classic report's extra columns, in its raw (ORC/Parquet) form."""
    import glob as _glob
    inventory = pq.read_table(sorted(_glob.glob(str(Path(data_dir) / "inventory" / "**" / "*.parquet"),
                                                recursive=True)))
    inventory = inventory.sort_by([("bucket", "ascending"), ("key", "ascending"),
                                   ("sequence_number", "ascending")])
    rows = inventory.to_pylist()
    rng = np.random.default_rng(seed)
    n = len(rows)
    draws = rng.random((n, 4))
    latest_seq: dict[tuple[str, str], str] = {}
    for r in rows:
        k = (r["bucket"], r["key"])
        latest_seq[k] = max(latest_seq.get(k, ""), r["sequence_number"])
    owner = ("CanonicalUser", OWNER_ID, "FULL_CONTROL")
    out = []
    for i, r in enumerate(rows):
        marker = bool(r["is_delete_marker"])
        a, b, c, d = draws[i]
        lm = r["last_modified_date"]
        row = {
            "bucket": r["bucket"], "key": r["key"], "version_id": r["version_id"],
            "is_latest": r["sequence_number"] == latest_seq[(r["bucket"], r["key"])],
            "is_delete_marker": marker, "size": None if marker else r["size"], "last_modified_date": lm,
            "e_tag": r["e_tag"], "storage_class": r["storage_class"], "is_multipart_uploaded": r["is_multipart"],
            "replication_status": None, "encryption_status": None if marker else (r["encryption_status"] or "NOT-SSE"),
            "object_lock_retain_until_date": None, "object_lock_mode": None, "object_lock_legal_hold_status": None,
            "object_lock_event_hold_status": None, "object_lock_event_hold_duration": None,
            "intelligent_tiering_access_tier": None, "intelligent_tiering_reference_date": None,
            "bucket_key_status": None if r["is_bucket_key_enabled"] is None else
            ("ENABLED" if r["is_bucket_key_enabled"] else "DISABLED"),
            "checksum_algorithm": _REPORT_CHECKSUMS.get(r["checksum_algorithm"], r["checksum_algorithm"]),
            "object_access_control_list": None, "object_owner": None, "lifecycle_expiration_date": None,
        }
        if not marker:
            grants = [owner]
            if a < 0.02:
                grants.append(("Group", _GROUPS["AllUsers"], "READ"))
            elif a < 0.03:
                grants.append(("Group", _GROUPS["AuthenticatedUsers"], "WRITE" if b < 0.5 else "READ_ACP"))
            row["object_access_control_list"] = _acl(grants)
            row["object_owner"] = OWNER_ID
            if r["bucket"] == BUCKETS[PROD][0]:  # replicated to another Region
                row["replication_status"] = "FAILED" if b < 0.03 else ("PENDING" if b < 0.06 else "COMPLETED")
            if r["bucket"] == BUCKETS[PROD][0] and r["key"].startswith(LOCKED_PREFIX) and c >= 0.08:
                row["object_lock_mode"] = "COMPLIANCE" if c < 0.7 else "GOVERNANCE"
                row["object_lock_retain_until_date"] = lm + timedelta(days=7 * 365)
                row["object_lock_legal_hold_status"] = "ON" if c > 0.95 else "OFF"
            if r["bucket"] == BUCKETS[PROD][0] and r["key"].startswith(LOCKED_PREFIX):
                held = c < 0.04  # an event hold until a case closes, then 30 days of retention
                row["object_lock_event_hold_status"] = "ON" if held else "OFF"
                row["object_lock_event_hold_duration"] = 30 if held else None
            if r["storage_class"] == "INTELLIGENT_TIERING":
                row["intelligent_tiering_access_tier"] = (
                    "FREQUENT" if d < 0.5 else "INFREQUENT" if d < 0.8 else "ARCHIVE_INSTANT_ACCESS")
                row["intelligent_tiering_reference_date"] = lm.replace(hour=0, minute=0, second=0, microsecond=0)
            if r["bucket"] == BUCKETS[LOGS][0] and lm is not None:
                row["lifecycle_expiration_date"] = (lm + timedelta(days=400)).replace(
                    hour=0, minute=0, second=0, microsecond=0)
        out.append(row)
    types = {"string": pa.string(), "boolean": pa.bool_(), "bigint": pa.int64(), "timestamp": pa.timestamp("ms")}
    return pa.Table.from_pylist(out, schema=pa.schema([
        pa.field(name, types[kind], nullable=name not in ("bucket", "key")) for _, name, kind in _REPORT_FIELDS]))


def write_inventory_report(data_dir: str | os.PathLike, out: str | os.PathLike,
                           formats: tuple[str, ...] = ("csv", "orc", "parquet"), seed: int = 7,
                           fields: tuple[str, ...] = REPORT_FIELDS, config: str = REPORT_CONFIG,
                           destination: str | None = None, run_at: datetime | None = None) -> dict[str, Path]:
    """Write a classic S3 Inventory report of the generated inventory in each format; return each root.

    out/<destination>/ (default out/<fmt>/) stands for the destination bucket:
    <destination>/<source bucket>/<config>/ holds the dated run folder (manifest.json,
    manifest.checksum), data/ and hive/, as AWS lays them out. `config` may hold {fmt}. CSV is gzip
    without a header, with URL-encoded keys; ORC is ZLIB; Parquet is Snappy. `fields` are the AWS
    names the configuration lists (Bucket and Key always; VersionId, IsLatest and IsDeleteMarker
    make an all-versions report, without them a report lists current versions only); `run_at`
    (default: the data's end) is the run's time. Two calls with one `destination` and two `config`
    values give two configurations of each bucket side by side, as AWS can.
    """
    import gzip
    import hashlib
    import io
    import uuid
    from urllib.parse import quote_plus

    import pyarrow.orc as orc

    data_dir, out = Path(data_dir), Path(out)
    if run_at is None:
        run_at = datetime.fromisoformat(json.loads((data_dir / "manifest.json").read_text(encoding="utf-8"))["end"])
    run = run_at.strftime("%Y-%m-%dT%H-%MZ")
    created = str(int(run_at.replace(tzinfo=timezone.utc).timestamp() * 1000))
    chosen = [f for f in _REPORT_FIELDS if f[0] in ("Bucket", "Key") or f[0] in fields]
    table = report_rows(data_dir, seed)
    if "VersionId" not in fields:  # current versions only: no delete markers, no noncurrent versions
        table = table.filter(pc.and_(table.column("is_latest"), pc.invert(table.column("is_delete_marker"))))
    table = table.select([name for _, name, _ in chosen])
    roots = {}
    for fmt in formats:
        file_format = {"csv": "CSV", "orc": "ORC", "parquet": "Parquet"}[fmt]
        ext = {"csv": ".csv.gz", "orc": ".orc", "parquet": ".parquet"}[fmt]
        root = out / (destination or fmt)
        for bucket in sorted(set(table.column("bucket").to_pylist())):
            rows = table.filter(pc.equal(table.column("bucket"), bucket))
            config_key = f"{root.name}/{bucket}/{config.format(fmt=fmt)}"
            files = []
            half = (rows.num_rows + 1) // 2
            for part, chunk in enumerate((rows.slice(0, half), rows.slice(half))):
                if chunk.num_rows == 0:
                    continue
                name = uuid.uuid5(uuid.NAMESPACE_URL, f"{config_key}/{run}/{part}")
                key = f"{config_key}/data/{name}{ext}"
                blob = _report_file(fmt, chunk, chosen, orc, io, gzip, quote_plus)
                (root.parent / key).parent.mkdir(parents=True, exist_ok=True)
                _write_atomic(root.parent / key, blob)
                files.append({"key": key, "size": len(blob), "MD5checksum": hashlib.md5(blob).hexdigest()})
            manifest = {
                "sourceBucket": bucket, "destinationBucket": f"arn:aws:s3:::{REPORT_DESTINATION}",
                "version": "2016-11-30", "creationTimestamp": created, "fileFormat": file_format,
                "fileSchema": _file_schema(fmt, chosen), "files": files,
            }
            body = json.dumps(manifest, indent=2).encode()
            run_dir = root.parent / config_key / run
            run_dir.mkdir(parents=True, exist_ok=True)
            _write_atomic(run_dir / "manifest.json", body)
            _write_atomic(run_dir / "manifest.checksum", hashlib.md5(body).hexdigest().encode())
            hive = root.parent / config_key / "hive" / f"dt={run_at.strftime('%Y-%m-%d-%H-%M')}"
            hive.mkdir(parents=True, exist_ok=True)
            _write_atomic(hive / "symlink.txt", "".join(
                f"s3://{REPORT_DESTINATION}/{f['key']}\n" for f in files).encode())
        roots[fmt] = root
    return roots


def _file_schema(fmt: str, fields: list[tuple[str, str, str]]) -> str:
    if fmt == "csv":
        return ", ".join(csv for csv, _, _ in fields)
    if fmt == "orc":
        return "struct<" + ",".join(f"{name}:{kind}" for _, name, kind in fields) + ">"
    parquet = {"string": "binary {n} (STRING)", "boolean": "boolean {n}", "bigint": "int64 {n}",
               "timestamp": "int64 {n} (TIMESTAMP(MILLIS,true))"}
    body = "".join(f"  {'required' if name in ('bucket', 'key') else 'optional'} "
                   f"{parquet[kind].format(n=name)};\n" for _, name, kind in fields)
    return "message s3.inventory {\n" + body + "}"


def _report_file(fmt, chunk, fields, orc, io, gzip, quote_plus) -> bytes:
    buffer = io.BytesIO()
    if fmt == "parquet":
        pq.write_table(chunk, buffer, compression="snappy", coerce_timestamps="ms")
        return buffer.getvalue()
    if fmt == "orc":
        orc.write_table(chunk, buffer, compression="zlib")
        return buffer.getvalue()
    lines = []
    columns = [chunk.column(name).to_pylist() for _, name, _ in fields]
    for values in zip(*columns, strict=True):
        cells = []
        for (_, name, kind), v in zip(fields, values, strict=True):
            if v is None:
                cells.append("")
            elif name == "key":
                cells.append(quote_plus(v, safe="/"))
            elif kind == "boolean":
                cells.append("true" if v else "false")
            elif kind == "timestamp":
                cells.append(v.strftime("%Y-%m-%dT%H:%M:%S.") + f"{v.microsecond // 1000:03d}Z")
            else:
                cells.append(str(v))
        lines.append(",".join('"' + c.replace('"', '""') + '"' for c in cells))
    return gzip.compress(("\n".join(lines) + "\n").encode("utf-8"), mtime=0)


def write_iceberg(data_dir: str | os.PathLike, warehouse: str | os.PathLike, namespace: str = "s3meta",
                  catalog_uri: str | None = None, properties: dict[str, str] | None = None) -> dict[str, str]:
    """Write an Iceberg copy of the journal and inventory with pyiceberg; return their metadata locations.

    A local warehouse keeps its SqlCatalog (sqlite) beside the tables; an s3:// warehouse needs
    `catalog_uri` (any SQLAlchemy URI) and the S3 FileIO `properties` (s3.endpoint and keys, say).
    """
    import glob as _glob
    import tempfile

    from pyiceberg.catalog.sql import SqlCatalog

    warehouse = os.fspath(warehouse)
    if "://" not in warehouse:
        Path(warehouse).mkdir(parents=True, exist_ok=True)
        location = Path(warehouse).resolve().as_uri()
        catalog_uri = catalog_uri or f"sqlite:///{Path(warehouse).resolve() / 'catalog.db'}"
    else:
        location = warehouse.rstrip("/")
        catalog_uri = catalog_uri or f"sqlite:///{tempfile.mkdtemp(prefix='s3meta-iceberg-')}/catalog.db"
    catalog = SqlCatalog("s3meta", uri=catalog_uri, warehouse=location, **(properties or {}))
    catalog.create_namespace_if_not_exists(namespace)
    locations = {}
    for table_name, table_schema in schema.TABLES.items():
        files = sorted(_glob.glob(str(Path(data_dir) / table_name / "**" / "*.parquet"), recursive=True))
        if not files:
            continue
        data = pq.read_table(files).cast(table_schema)
        identifier = f"{namespace}.{table_name}"
        if catalog.table_exists(identifier):
            catalog.drop_table(identifier)
        table = catalog.create_table(identifier, schema=table_schema)
        table.append(data)
        locations[table_name] = table.metadata_location
    return locations
