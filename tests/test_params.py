"""Parameter parsing, validation and coercion."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from analytics.errors import ParamError
from analytics.params import (Param, coerce, parse_assignments, parse_count, parse_duration, parse_seconds,
                              parse_timestamp)

NOW = datetime(2025, 11, 21, 6, 0)
WINDOW = [Param("since", "timestamp", "24h"), Param("until", "timestamp", "now"),
          Param("bucket", "bucket", "null"), Param("limit", "integer", "50")]


@pytest.mark.parametrize("text,expected", [
    ("90m", timedelta(minutes=90)), ("24h", timedelta(hours=24)), ("7d", timedelta(days=7)),
    ("2w", timedelta(weeks=2)), ("1h30m", timedelta(minutes=90)), ("45s", timedelta(seconds=45)),
    ("7D", timedelta(days=7)),
])
def test_durations(text, expected):
    assert parse_duration(text) == expected


@pytest.mark.parametrize("text", ["", "h", "7", "-1d", "1.5h", "7 days", "1y"])
def test_not_durations(text):
    assert parse_duration(text) is None


@pytest.mark.parametrize("text,expected", [
    ("2025-11-20", datetime(2025, 11, 20)),
    ("2025-11-20T10:00:00", datetime(2025, 11, 20, 10)),
    ("2025-11-20T10:00:00Z", datetime(2025, 11, 20, 10)),
    ("2025-11-20T12:00:00+02:00", datetime(2025, 11, 20, 10)),
    ("2025-11-20T05:00:00-05:00", datetime(2025, 11, 20, 10)),
    ("2025-11-20 10:00:00.123456", datetime(2025, 11, 20, 10, 0, 0, 123456)),
    ("now", NOW), ("24h", NOW - timedelta(hours=24)),
])
def test_timestamps(text, expected):
    assert parse_timestamp(text, NOW) == expected


def test_defaults_fill_and_since_counts_back_from_until():
    values = coerce("q", WINDOW, {"until": "2025-11-20T12:00:00"}, now=NOW)
    assert values == {"since": datetime(2025, 11, 19, 12), "until": datetime(2025, 11, 20, 12),
                      "bucket": None, "limit": 50}


def test_until_defaults_to_now_and_durations_in_until_count_back_from_now():
    assert coerce("q", WINDOW, {}, now=NOW)["until"] == NOW
    assert coerce("q", WINDOW, {"until": "1h", "since": "1h"}, now=NOW)["since"] == NOW - timedelta(hours=2)


def test_python_values_pass_through_and_aware_datetimes_become_utc():
    from datetime import timezone
    aware = datetime(2025, 11, 20, 12, tzinfo=timezone(timedelta(hours=2)))
    values = coerce("q", WINDOW, {"since": aware, "limit": 5}, now=NOW)
    assert values["since"] == datetime(2025, 11, 20, 10) and values["limit"] == 5


@pytest.mark.parametrize("name,value,fragment", [
    ("since", "yesterday", "expected ISO 8601"),
    ("since", "2025-13-01", "expected ISO 8601"),
    ("limit", "ten", "expected an integer"),
    ("limit", "-1", "from 0 to"),
    ("limit", True, "expected an integer"),
    ("bucket", "Bad Bucket!", "S3 bucket name"),
    ("bucket", "x' OR '1'='1", "S3 bucket name"),
    ("nope", "1", "no such parameter"),
])
def test_bad_values_name_the_query_parameter_and_form(name, value, fragment):
    with pytest.raises(ParamError) as err:
        coerce("recent_deletes", WINDOW, {name: value}, now=NOW)
    message = str(err.value)
    assert message.startswith(f"query 'recent_deletes', parameter '{name}'")
    assert fragment in message and "\n" not in message


def test_empty_window_is_refused():
    with pytest.raises(ParamError, match="window is empty"):
        coerce("q", WINDOW, {"since": "2025-11-21", "until": "2025-11-20"}, now=NOW)


def test_required_parameter():
    with pytest.raises(ParamError, match="required; expected an object key"):
        coerce("key_history", [Param("key", "key", None)], {}, now=NOW)


@pytest.mark.parametrize("type_,good,bad", [
    ("ip", ["192.0.2.1", "2001:db8::1"], ["192.0.2.256", "not-an-ip", "10.0.0.0/8"]),
    ("requester", ["111122223333", "s3.amazonaws.com", "malware-protection-plan.guardduty.amazonaws.com"],
     ["1111", "arn:aws:iam::1:user/x", "evil.com"]),
    ("extension", ["jpg", ".PARQUET"], ["%", "a_b", "tar.gz", ""]),
    ("bucket", ["my-bucket", "my.bucket", "Legacy_Bucket"], ["ab", "-x-", "a b c", "x" * 300]),
    ("key", ["a", "日本語/ファイル"], [""]),
])
def test_typed_values(type_, good, bad):
    declared = [Param("v", type_, None)]
    for value in good:
        coerce("q", declared, {"v": value}, now=NOW)
    for value in bad:
        with pytest.raises(ParamError):
            coerce("q", declared, {"v": value}, now=NOW)


def test_extension_is_normalised():
    assert coerce("q", [Param("v", "extension", None)], {"v": ".JPG"}, now=NOW) == {"v": "jpg"}


def test_cli_assignments():
    assert parse_assignments(["since=24h", "key=a=b"]) == {"since": "24h", "key": "a=b"}
    with pytest.raises(ParamError, match="NAME=VALUE"):
        parse_assignments(["since"])


# --- hostile values: huge, Unicode digits, empty ------------------------------------------------------

REQUESTER = [Param("requester", "requester", None)]


@pytest.mark.parametrize("values,fragment", [
    ({"since": "999999999d"}, "longer than"), ({"since": "99999999999999999999999d"}, "longer than"),
    ({"since": "9999999w"}, "longer than"), ({"until": "999999999h"}, "longer than"),
    ({"since": "36500d", "until": "0050-01-01"}, "before the year 1"),
    ({"since": "１２h"}, "expected ISO 8601"), ({"since": "٣d"}, "expected ISO 8601"),
    ({"limit": "１２"}, "expected an integer"), ({"limit": "٣"}, "expected an integer"),
])
def test_huge_and_unicode_values_are_param_errors(values, fragment):
    with pytest.raises(ParamError, match=fragment) as err:
        coerce("q", WINDOW, values, now=NOW)
    assert err.value.param in values


@pytest.mark.parametrize("value", ["１１１１２２２２３３３３", "١١١١٢٢٢٢٣٣٣٣", "11112222333３"])
def test_an_account_id_is_twelve_ascii_digits(value):
    with pytest.raises(ParamError, match="12-digit AWS account ID"):
        coerce("q", REQUESTER, {"requester": value}, now=NOW)


def test_a_century_of_duration_is_still_accepted():
    assert coerce("q", WINDOW, {"since": "36500d"}, now=NOW)["since"] == NOW - timedelta(days=36500)


@pytest.mark.parametrize("text,low,high,fragment", [
    ("-1", 0, 10, "from 0 to 10"), ("11", 0, 10, "from 0 to 10"), ("1" + "0" * 30, 0, 10, "from 0 to 10"),
    ("１２", 0, 100, "whole number"), ("٣", 0, 100, "whole number"), ("", 0, 10, "whole number"),
    ("1.5", 0, 10, "whole number"), ("nan", 0, 10, "whole number"),
])
def test_counts_are_ascii_whole_numbers_in_range(text, low, high, fragment):
    with pytest.raises(ValueError, match=fragment):
        parse_count(text, low, high)


@pytest.mark.parametrize("text", ["nan", "NaN", "inf", "-inf", "1e400", "0", "-1", "", "١٢", "１", "0x10", "1_0"])
def test_seconds_are_positive_finite_ascii_numbers(text):
    with pytest.raises(ValueError, match="positive number of seconds"):
        parse_seconds(text)


@pytest.mark.parametrize("text,expected", [("1", 1.0), ("2.5", 2.5), ("900", 900.0), (".5", 0.5), ("1e3", 1000.0)])
def test_seconds(text, expected):
    assert parse_seconds(text) == expected
