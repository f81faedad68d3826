"""Restore plans: the delete markers an actor placed, the versions they hide, and a reviewable script.

A delete marker hides a key without removing its versions; deleting the marker makes the version
below it current again (AWS: "Removing delete markers from your versioning-enabled bucket"). This
module reads the journal and inventory records of every key on which the chosen actor placed a
marker in the window, works out per key what is on top and what lies below, and writes two files
for a person to review: PREFIX.json (every marker considered, and why each is or is not restored)
and PREFIX.sh (one `aws s3api delete-object ... --version-id MARKER` per restorable marker). It
never calls AWS and never runs the script.

How a marker is matched to the version it hides, per (bucket, key):
- Versions are ordered by the sequence_number of the journal record that created them (CREATE, or
  the DELETE that placed a marker); versions the journal never saw created (backfilled, or older
  than the journal's expiration) come from the inventory and sort below all of those, by
  last_modified_date. A version whose last journal record is a permanent delete is gone.
- A marker is restorable only if it still exists and is the current version: nothing alive on top.
- The hidden version is the nearest alive version below it that is not a delete marker. Markers in
  between that the same selection placed are removed with it (listed in also_remove); a marker in
  between that someone else placed blocks the plan for that key (listed under "unresolved").
- A marker with no alive version below it hides nothing restorable ("hidden_version_not_found").
"""

from __future__ import annotations

import json
import os
import re
import shlex
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from . import params as _params
from .errors import BadInput
from .schema import OBJECT_RECORD_TYPES
from .values import jsonable
from .version import __version__

if TYPE_CHECKING:
    from .api import Session

FORMAT = "s3meta-restore-plan"
FORMAT_VERSION = 1

# The catalog query that gathers the evidence (queries/restore_candidates.sql).
QUERY_NAME = "restore_candidates"

# Storage classes whose objects must be restored from archive before they can be read again.
ARCHIVED = frozenset({"GLACIER", "DEEP_ARCHIVE"})
_COMMENT_SAFE = re.compile(r"[^A-Za-z0-9._:+/=@-]")


@dataclass
class _Version:
    version_id: str | None
    created_seq: str | None = None  # the journal record that made it (CREATE or marker DELETE)
    is_marker: bool = False
    gone: bool = False  # its latest journal record is a permanent delete
    in_inventory: bool = False
    size: int | None = None
    storage_class: str | None = None
    last_modified_date: datetime | None = None
    inventory_seq: str | None = None
    marker_record: dict[str, Any] | None = None  # the DELETE record of a marker
    selected: bool = False

    @property
    def alive(self) -> bool:
        return not self.gone and (self.in_inventory or self.created_seq is not None)

    def order(self) -> tuple:
        if self.created_seq is not None:
            return (1, self.created_seq, "", "")
        lmd = self.last_modified_date.isoformat() if self.last_modified_date else ""
        return (0, "", lmd, self.inventory_seq or "")


@dataclass
class RestorePlan:
    """What to restore, what cannot be, and why; `write(prefix)` makes PREFIX.json and PREFIX.sh."""

    selection: dict[str, Any]
    restores: list[dict[str, Any]] = field(default_factory=list)
    unresolved: list[dict[str, Any]] = field(default_factory=list)
    skipped: list[dict[str, Any]] = field(default_factory=list)
    created_at: datetime | None = None
    engine: str | None = None
    stats: dict[str, Any] = field(default_factory=dict)  # the engine's statistics (Athena: cost_usd)

    # --- views ----------------------------------------------------------------------------------
    @property
    def markers(self) -> int:
        """Delete markers the selection placed in the window."""
        return len(self.restores) + len(self.unresolved) + len(self.skipped) + sum(
            len(r["also_remove"]) for r in self.restores)

    def commands(self) -> list[list[str]]:
        """The AWS CLI invocations of the script, one argument list per marker removed."""
        out = []
        for r in self.restores:
            for version_id in [r["delete_marker_version_id"], *r["also_remove"]]:
                out.append(_command(r["bucket"], r["key"], version_id))
        return out

    def archived(self) -> int:
        """Hidden versions in an archive storage class: current again once restored, but not readable yet."""
        return sum(1 for r in self.restores if r["hidden_storage_class"] in ARCHIVED)

    def message(self) -> str:
        s = self.selection
        who = " and ".join(f"{k} {s[k]}" for k in ("requester", "ip") if s.get(k))
        where = f" in bucket {s['bucket']}" if s.get("bucket") else ""
        if not self.markers:
            return f"no delete markers placed by {who}{where} from {s['since']} to {s['until']}: nothing to restore"
        archived = self.archived()
        note = (f"; {archived} hidden version(s) in GLACIER or DEEP_ARCHIVE must be restored from archive "
                "before they can be read") if archived else ""
        return (f"{self.markers} delete marker(s) by {who}{where}: {len(self.restores)} key(s) to restore, "
                f"{len(self.unresolved)} unresolved, {len(self.skipped)} skipped{note}")

    def to_dict(self) -> dict[str, Any]:
        restored_bytes = sum(r["hidden_size"] or 0 for r in self.restores)
        return {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "generator": f"s3meta {__version__}",
            "created_at": jsonable(self.created_at),
            "engine": self.engine,
            "selection": jsonable(self.selection),
            "summary": {
                "message": self.message(),
                "markers_in_window": self.markers,
                "keys_to_restore": len(self.restores),
                "markers_to_remove": sum(1 + len(r["also_remove"]) for r in self.restores),
                "bytes_restored": restored_bytes,
                "archived_hidden_versions": self.archived(),
                "unresolved": len(self.unresolved),
                "skipped": len(self.skipped),
            },
            "restores": jsonable(self.restores),
            "unresolved": jsonable(self.unresolved),
            "skipped": jsonable(self.skipped),
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, ensure_ascii=False, sort_keys=False) + "\n"

    def script(self, plan_file: str | None = None) -> str:
        """The shell script: what it does, then one checked removal per marker, with progress.

        Every marker goes through `remove_marker`, which first asks S3 what the version is: HeadObject
        answers 405 for a delete marker (removed), 404 once it is gone (skipped, so the script can be
        run again after a partial run), and 200 for a version that holds data, which the script
        refuses to delete. Each key travels inside --cli-input-json, as ASCII JSON, so no key is read
        by the AWS CLI as a file or URL to fetch (file://, https://: `cli_follow_urlparam` in CLI v1),
        nor as an option.
        """
        s = self.selection
        commands = self.commands()
        archived = self.archived()
        lines = [
            "#!/usr/bin/env bash",
            f"# s3meta restore plan, written {_comment(jsonable(self.created_at))} by s3meta {__version__}.",
            "#",
            "# Removes delete markers so that the versions they hide become current again. Removing a",
            "# delete marker (delete-object with the marker's version ID) deletes no data: each version ID",
            "# is checked first, and one that turns out to hold data is refused, never deleted.",
            f"# Selection: requester {_comment(s.get('requester'))}, source IP {_comment(s.get('ip'))}, "
            f"bucket {_comment(s.get('bucket'))},",
            f"#   markers placed from {_comment(s['since'])} (inclusive) to {_comment(s['until'])} (exclusive).",
            f"# {len(self.restores)} key(s) to restore; {len(commands)} marker(s) to remove.",
        ]
        if archived:
            lines.append(f"# {archived} hidden version(s) in GLACIER or DEEP_ARCHIVE: they become current, but must be")
            lines.append("#   restored from archive (aws s3api restore-object) before they can be read.")
        lines += [
            f"# Review {_comment(plan_file) if plan_file else 'the JSON plan'} first: it lists every marker, "
            "the version each one",
            "# hides, and the markers left out (already removed, covered by a newer version, or hiding nothing).",
            "# Then run this with the AWS credentials of the account that owns the bucket(s). It can be run",
            "# again: markers already removed are skipped. DRY_RUN=1 prints the commands without running",
            "# them; AWS=... names another AWS CLI command.",
            "set -euo pipefail",
            'AWS="${AWS:-aws}"',
            'DRY_RUN="${DRY_RUN:-0}"',
            f"TOTAL={len(commands)}",
            "n=0 removed=0 gone=0 failed=0",
            "",
            "remove_marker() {  # remove_marker INPUT_JSON: one marker, checked first",
            "    local input=$1 out",
            "    n=$((n + 1))",
            '    if [ "$DRY_RUN" = 1 ]; then',
            '        printf \'[%d/%d] %s s3api delete-object --cli-input-json %q\\n\' "$n" "$TOTAL" "$AWS" "$input"',
            "        return 0",
            "    fi",
            '    if out=$($AWS s3api head-object --cli-input-json "$input" 2>&1); then',
            '        printf \'[%d/%d] refused: the version is not a delete marker (it holds data): %s\\n\' '
            '"$n" "$TOTAL" "$input" >&2',
            "        failed=$((failed + 1))",
            '    elif [[ $out == *"(404)"* || $out == *"Not Found"* ]]; then',
            '        printf \'[%d/%d] already removed: %s\\n\' "$n" "$TOTAL" "$input" >&2',
            "        gone=$((gone + 1))",
            '    elif [[ $out != *"(405)"* && $out != *"Method Not Allowed"* ]]; then',
            '        printf \'[%d/%d] cannot check %s: %s\\n\' "$n" "$TOTAL" "$input" "${out//$\'\\n\'/ }" >&2',
            "        failed=$((failed + 1))",
            '    elif out=$($AWS s3api delete-object --cli-input-json "$input" 2>&1); then',
            '        printf \'[%d/%d] removed: %s\\n\' "$n" "$TOTAL" "$input" >&2',
            "        removed=$((removed + 1))",
            "    else",
            '        printf \'[%d/%d] failed: %s: %s\\n\' "$n" "$TOTAL" "$input" "${out//$\'\\n\'/ }" >&2',
            "        failed=$((failed + 1))",
            "    fi",
            "}",
            "",
        ]
        if not self.restores:
            lines.append("echo 'Nothing to restore: no delete marker of the selection is still current.' >&2")
        n = 0
        for r in self.restores:
            for version_id in [r["delete_marker_version_id"], *r["also_remove"]]:
                n += 1
                lines.append(f"# {n}: marker {_comment(version_id)} hides version {_comment(r['hidden_version_id'])}")
                lines.append("remove_marker " + shlex.quote(_cli_input(r["bucket"], r["key"], version_id)))
        lines += [
            "",
            'printf \'%d removed, %d already removed, %d failed, of %d\\n\' "$removed" "$gone" "$failed" "$TOTAL" >&2',
            '[ "$failed" -eq 0 ]',
            "",
        ]
        return "\n".join(lines)

    def write(self, prefix: str | os.PathLike) -> tuple[Path, Path]:
        """Write PREFIX.json and PREFIX.sh (executable) atomically; return both paths."""
        from .files import atomic_write

        base = Path(prefix)
        json_path, sh_path = base.with_name(base.name + ".json"), base.with_name(base.name + ".sh")
        try:
            with atomic_write(json_path) as fh:
                fh.write(self.to_json())
            with atomic_write(sh_path) as fh:
                fh.write(self.script(json_path.name))
            # Both are for people to read; the script also to run once reviewed.
            os.chmod(json_path, 0o644)
            os.chmod(sh_path, 0o755)
        except OSError as exc:
            raise BadInput(f"cannot write the restore plan to {base}: {exc.strerror or exc}") from exc
        return json_path, sh_path

    # --- notebooks -------------------------------------------------------------------------------
    def df(self):
        """The keys to restore as a DataFrame."""
        import pandas as pd
        return pd.DataFrame(self.restores)

    def __len__(self) -> int:
        return len(self.restores)

    def __repr__(self) -> str:
        return f"<RestorePlan {self.message()}>"

    def _repr_html_(self) -> str:
        import html

        from .values import display
        rows = "".join(
            f"<tr><td>{html.escape(r['bucket'])}</td><td>{html.escape(display(r['key'], width=80))}</td>"
            f"<td>{html.escape(str(r['delete_marker_version_id']))}</td>"
            f"<td>{html.escape(str(r['hidden_version_id']))}</td></tr>" for r in self.restores[:20])
        more = f" (first 20 of {len(self.restores)})" if len(self.restores) > 20 else ""
        return (f"<div class='s3meta-restore'><p><b>restore plan</b>: {html.escape(self.message())}{more}</p>"
                "<table><thead><tr><th>bucket</th><th>key</th><th>delete marker</th><th>hidden version</th>"
                f"</tr></thead><tbody>{rows}</tbody></table></div>")


def _comment(value: Any) -> str:
    """A value safe inside a shell comment line: no newline, nothing but plain characters."""
    return "-" if value is None else _COMMENT_SAFE.sub("?", str(value))


def _cli_input(bucket: str, key: str, version_id: str) -> str:
    """The request as --cli-input-json takes it: ASCII JSON, so every key is data, never a file, a URL or an option."""
    return json.dumps({"Bucket": bucket, "Key": key, "VersionId": version_id}, ensure_ascii=True)


def _command(bucket: str, key: str, version_id: str) -> list[str]:
    return ["aws", "s3api", "delete-object", "--cli-input-json", _cli_input(bucket, key, version_id)]


def plan(session: "Session", *, since: Any = "24h", until: Any = "now", requester: str | None = None,
         ip: str | None = None, bucket: str | list[str] | None = None) -> RestorePlan:
    """The restore plan for the delete markers `requester` and/or `ip` placed in [since, until).

    Parameters take the same forms as the catalog's (`since="24h"`, ISO 8601, account IDs); `bucket`
    may be a list. At least one of requester and ip is required: a plan for everyone's markers
    would undo S3 Lifecycle's expirations too.
    """
    if not requester and not ip:
        raise BadInput("restore plan: name the actor with requester and/or ip (--requester, --ip)")
    buckets = [bucket] if isinstance(bucket, str) else list(bucket or [])
    now = session.clock()
    given = {"since": since, "until": until, "bucket": buckets[0] if len(buckets) == 1 else None,
             "requester": requester, "ip": ip}
    query = session.query(QUERY_NAME)
    values = _params.coerce("restore-plan", list(query.params), given, now=now)
    if len(buckets) > 1:  # several buckets: each name is checked here, and the rows filtered below
        for name in buckets:
            _params.coerce("restore-plan", [query.param("bucket")], {"bucket": name})
    execution = session.run(QUERY_NAME, values)
    records = execution.table.to_pylist()
    if len(buckets) > 1:
        records = [r for r in records if r["bucket"] in buckets]
        values["bucket"] = buckets
    result = build(records, values)
    result.created_at = now.replace(microsecond=0)
    result.engine = session.engine.name
    result.stats = execution.stats
    return result


def build(records: list[dict[str, Any]], selection: dict[str, Any]) -> RestorePlan:
    """The plan from the records of the touched keys (rows of restore_candidates): the per-key reasoning."""
    by_key: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for rec in records:
        by_key.setdefault((rec["bucket"], rec["key"]), []).append(rec)
    out = RestorePlan(selection={k: jsonable(v) for k, v in selection.items()})
    for (bucket, key), recs in sorted(by_key.items()):
        _plan_key(out, bucket, key, recs)
    for part in (out.restores, out.unresolved, out.skipped):
        part.sort(key=lambda r: (r["marker_at"] or "", r["bucket"], r["key"]))
    return out


def _versions(recs: list[dict[str, Any]]) -> list[_Version]:
    versions: dict[str | None, _Version] = {}
    # An annotation record (June 2026) makes and removes no version; whether it shares the key's
    # sequence space is not documented, so it is not read at all (restore_candidates leaves it out too).
    journal = sorted((r for r in recs if r["source"] == "journal" and r["record_type"] in OBJECT_RECORD_TYPES),
                     key=lambda r: r["sequence_number"])
    for r in journal:
        v = versions.setdefault(r["version_id"], _Version(r["version_id"]))
        if r["record_type"] == "CREATE" or (r["record_type"] == "DELETE" and r["is_delete_marker"]):
            # A 'null' version overwritten in a non-versioned phase is created again: the latest counts.
            v.created_seq, v.gone = r["sequence_number"], False
            v.is_marker = bool(r["is_delete_marker"]) and r["record_type"] == "DELETE"
            if v.is_marker:
                v.marker_record, v.selected = r, bool(r["selected"])
        elif r["record_type"] == "DELETE":  # is_delete_marker NULL or false: deleted for good
            v.gone = True
        if r["size"] is not None and not v.is_marker:
            v.size = r["size"]
        if r["storage_class"] is not None:
            v.storage_class = r["storage_class"]
        if r["last_modified_date"] is not None:
            v.last_modified_date = r["last_modified_date"]
    for r in recs:
        if r["source"] != "inventory":
            continue
        v = versions.setdefault(r["version_id"], _Version(r["version_id"]))
        v.in_inventory, v.inventory_seq = True, r["sequence_number"]
        v.is_marker = v.is_marker or bool(r["is_delete_marker"])
        # The inventory holds the version's current state (a later storage class, for one).
        v.size = r["size"] if r["size"] is not None else v.size
        v.storage_class = r["storage_class"] or v.storage_class
        v.last_modified_date = r["last_modified_date"] or v.last_modified_date
    return sorted(versions.values(), key=_Version.order)


def _marker_fields(bucket: str, key: str, m: _Version) -> dict[str, Any]:
    rec = m.marker_record or {}
    return {"bucket": bucket, "key": key, "delete_marker_version_id": m.version_id,
            "marker_at": jsonable(rec.get("record_timestamp")), "marker_sequence_number": m.created_seq,
            "requester": rec.get("requester"), "source_ip_address": rec.get("source_ip_address")}


def _plan_key(out: RestorePlan, bucket: str, key: str, recs: list[dict[str, Any]]) -> None:
    ordered = _versions(recs)
    alive = [v for v in ordered if v.alive]
    top = alive[-1] if alive else None
    handled: set[int] = set()
    stacked: list[_Version] = []

    if top is not None and top.is_marker and top.selected:
        handled.add(id(top))
        entry = _marker_fields(bucket, key, top)
        hidden: _Version | None = None
        blocker: _Version | None = None
        for v in reversed(alive[:-1]):
            if not v.is_marker:
                hidden = v
                break
            if not v.selected:
                blocker = v
                break
            stacked.append(v)
        if top.version_id is None:
            out.unresolved.append({**entry, "reason": "marker_version_id_missing",
                                   "detail": "the journal gives no version ID for this marker"})
        elif "\x00" in key:
            # A shell argument ends at a NUL byte: a command for this key would name another key.
            out.unresolved.append({**entry, "reason": "key_not_passable",
                                   "detail": "the key holds a NUL byte, which no shell command can carry; "
                                             "remove this marker with an SDK"})
        elif blocker is not None:
            out.unresolved.append({**entry, "reason": "blocked_by_other_marker",
                                   "blocking_marker_version_id": blocker.version_id,
                                   "detail": "below it lies a delete marker this selection did not place"})
        elif hidden is None:
            out.unresolved.append({**entry, "reason": "hidden_version_not_found",
                                   "detail": "no version below the marker is still stored"})
        else:
            warning = None
            if hidden.storage_class in ARCHIVED:
                warning = (f"the hidden version is in {hidden.storage_class}: it becomes current, but must be "
                           "restored from archive before it can be read")
            handled.update(id(v) for v in stacked)
            out.restores.append({**entry, "also_remove": [v.version_id for v in stacked],
                                 "hidden_version_id": hidden.version_id, "hidden_size": hidden.size,
                                 "hidden_storage_class": hidden.storage_class,
                                 "hidden_last_modified_date": jsonable(hidden.last_modified_date),
                                 "hidden_seen_in": "journal" if hidden.created_seq else "inventory",
                                 "warning": warning})

    for v in ordered:
        if not (v.is_marker and v.selected) or id(v) in handled:
            continue
        entry = _marker_fields(bucket, key, v)
        if v.gone:
            out.skipped.append({**entry, "reason": "marker_already_removed",
                                "detail": "the marker was deleted after it was placed"})
        elif any(v is x for x in stacked):
            out.skipped.append({**entry, "reason": "stacked_under_unresolved_marker",
                                "on_top_version_id": top.version_id if top else None,
                                "detail": "a newer marker of this selection is on top and cannot be restored"})
        else:
            newer = [x for x in alive if x.order() > v.order()]
            on_top = newer[-1] if newer else None
            out.skipped.append({**entry, "reason": "newer_version_on_top",
                                "on_top_version_id": on_top.version_id if on_top else None,
                                "on_top_is_delete_marker": bool(on_top and on_top.is_marker),
                                "detail": "the key already has a newer version; the marker is not current"})
