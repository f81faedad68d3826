"""Where a report is given: relative paths, `~`, a manifest of any name, s3:// prefixes, relative data keys."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import pytest

import analytics
from analytics import fixtures, inventory_report
from analytics.errors import DataError
from test_inventory_report_aws_files import run

CONFIG = "s3meta-csv"


@pytest.fixture(scope="module")
def dest(tmp_path_factory, small_data) -> Path:
    """A local copy of a destination bucket: dest/csv/<source bucket>/s3meta-csv/<run>/manifest.json."""
    base = tmp_path_factory.mktemp("paths")
    fixtures.write_inventory_report(small_data, base / "dest", formats=("csv",))
    (base / "elsewhere").mkdir()
    return base / "dest"


def _run_folder(dest: Path, bucket: str = "acme-logs") -> Path:
    return next((dest / "csv" / bucket / CONFIG).glob("20*"))


def _answer(location: str | Path, cwd: Path, env: dict | None = None) -> list:
    proc = run("query", "storage_class_summary", "--inventory-report", str(location), "--format", "json",
               cwd=cwd, env=env)
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""
    return json.loads(proc.stdout)


def _case(dest: Path, case: str) -> tuple[str, Path, dict, Path]:
    """(PATH as typed, working directory, environment, the same place as an absolute path)."""
    run_folder = _run_folder(dest)
    relative_manifest = run_folder.relative_to(dest / "csv") / "manifest.json"
    return {
        "manifest.json in its run folder": ("manifest.json", run_folder, {}, run_folder),
        "dot in a run folder": (".", run_folder, {}, run_folder),
        "dot-slash folder": ("./csv", dest, {}, dest / "csv"),
        "bare relative folder": ("csv", dest, {}, dest / "csv"),
        "manifest inside a run folder": (str(relative_manifest), dest / "csv", {}, run_folder / "manifest.json"),
        "dot-dot": ("../dest/csv", dest.parent / "elsewhere", {}, dest / "csv"),
        "tilde": ("~/dest/csv/acme-logs", dest.parent / "elsewhere", {"HOME": str(dest.parent)},
                  dest / "csv" / "acme-logs"),
    }[case]


@pytest.mark.parametrize("case", ["manifest.json in its run folder", "dot in a run folder", "dot-slash folder",
                                  "bare relative folder", "manifest inside a run folder", "dot-dot", "tilde"])
def test_relative_paths_give_what_the_absolute_path_gives(dest, case):
    typed, cwd, env, absolute = _case(dest, case)
    with analytics.connect(inventory_report=str(absolute)) as session:
        expected = session.run("storage_class_summary").rows()  # ints and strings: as the JSON says
    assert expected and sum(r["object_count"] for r in expected) > 0
    assert _answer(typed, cwd, env) == expected


def test_relative_paths_from_python(dest, monkeypatch):
    run_folder = _run_folder(dest)
    expected = inventory_report.read(run_folder / "manifest.json")
    monkeypatch.chdir(run_folder)
    assert inventory_report.read("manifest.json").equals(expected)
    assert inventory_report.read(".").equals(expected)
    with analytics.connect(inventory_report=".") as session:
        assert session.sql("SELECT count(*) AS n FROM inventory_report").rows() == [{"n": expected.num_rows}]


def _rewrite(manifest: Path, target: Path, key_for) -> None:
    """Write `manifest` to `target` with each file's key replaced by key_for(old key)."""
    doc = json.loads(manifest.read_text())
    for f in doc["files"]:
        f["key"] = key_for(f["key"])
    target.write_text(json.dumps(doc))


def test_data_keys_relative_to_the_manifest_resolve(dest, tmp_path):
    run_folder = _run_folder(dest)
    expected = inventory_report.read(run_folder / "manifest.json")
    # beside the manifest, as a bare file name (the OrcaBus copies' form)
    beside = tmp_path / "beside"
    beside.mkdir()
    for data in (run_folder.parent / "data").iterdir():
        shutil.copy(data, beside / data.name)
    _rewrite(run_folder / "manifest.json", beside / "acme-logs-manifest.json", lambda k: k.rsplit("/", 1)[1])
    assert inventory_report.read(beside / "acme-logs-manifest.json").equals(expected)
    # synced from a prefix: data/<file>, relative to the configuration folder above the run folder
    synced = tmp_path / "synced" / CONFIG
    shutil.copytree(run_folder.parent, synced)
    for manifest in synced.glob("20*/manifest.json"):
        (manifest.parent / "manifest.checksum").unlink()
        _rewrite(manifest, manifest, lambda k: "data/" + k.rsplit("/", 1)[1])
    assert inventory_report.read(tmp_path / "synced").equals(expected)


@pytest.mark.parametrize("key", ["../../../../etc/passwd", "csv/acme-logs/./x.csv.gz", ""])
def test_a_data_key_that_climbs_is_refused_naming_the_manifest(dest, tmp_path, key):
    target = tmp_path / "m" / "odd_manifest.json"
    target.parent.mkdir()
    _rewrite(_run_folder(dest) / "manifest.json", target, lambda _: key)
    with pytest.raises(DataError, match=rf"{target}: refused data file key"):
        inventory_report.read(target)


def test_a_missing_data_file_names_the_manifest(dest, tmp_path):
    target = tmp_path / "lost_manifest.json"
    _rewrite(_run_folder(dest) / "manifest.json", target, lambda k: k.replace("data/", "gone/"))
    with pytest.raises(DataError, match=rf"{target}: inventory report file .*gone/.* not found"):
        inventory_report.read(target)


def test_s3_prefixes_with_and_without_a_slash(aws, dest):
    import boto3

    s3 = boto3.client("s3")
    s3.create_bucket(Bucket=fixtures.REPORT_DESTINATION)
    for path in sorted(dest.glob("**/*")):
        if path.is_file():
            s3.put_object(Bucket=fixtures.REPORT_DESTINATION, Key=path.relative_to(dest).as_posix(),
                          Body=path.read_bytes())
    run_folder = _run_folder(dest)
    run_key = run_folder.relative_to(dest).as_posix()
    everything = inventory_report.read(dest / "csv")
    one = inventory_report.read(run_folder)
    base = f"s3://{fixtures.REPORT_DESTINATION}"
    for location in (base, base + "/", base + "/csv", base + "/csv/"):
        assert inventory_report.read(location).equals(everything), location
    for location in (f"{base}/{run_key}", f"{base}/{run_key}/", f"{base}/{run_key}/manifest.json",
                     f"{base}/csv/acme-logs", f"{base}/csv/acme-logs/"):
        assert inventory_report.read(location).equals(one), location
    # a manifest under another name, its data keys bare: found beside it
    s3.create_bucket(Bucket="elsewhere")
    doc = json.loads((run_folder / "manifest.json").read_text())
    for f in doc["files"]:
        name = f["key"].rsplit("/", 1)[1]
        s3.put_object(Bucket="elsewhere", Key=f"copy/{name}", Body=(run_folder.parent / "data" / name).read_bytes())
        f["key"] = name
    body = json.dumps(doc).encode()
    s3.put_object(Bucket="elsewhere", Key="copy/logs_manifest.json", Body=body)
    s3.put_object(Bucket="elsewhere", Key="copy/logs_manifest.checksum", Body=hashlib.md5(body).hexdigest().encode())
    assert inventory_report.read("s3://elsewhere/copy/logs_manifest.json").equals(one)
    assert inventory_report.read("s3://elsewhere/copy").equals(one)
