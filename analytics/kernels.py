"""The Arrow compute functions the writers call, without importing pyarrow.compute.

Importing pyarrow.compute builds a Python wrapper, signature and docstring for each of its 300-odd
functions: some 70 ms, a tenth of a whole `s3meta sql` over a few million rows, spent before the
first value is written. The functions themselves are in pyarrow._compute (pyarrow is pinned), and
are called here by name, with the arguments their pyarrow.compute namesakes take, so that
`from . import kernels as pc` reads like the usual `import pyarrow.compute as pc`. Only what
analytics.values and analytics.output use is here; tests/test_kernels.py compares each function with
its namesake.
"""

from __future__ import annotations

from typing import Any

import pyarrow as pa
from pyarrow._compute import (
    CastOptions,
    FilterOptions,
    JoinOptions,
    MatchSubstringOptions,
    ReplaceSubstringOptions,
    ScalarAggregateOptions,
    SliceOptions,
    SortOptions,
    StrftimeOptions,
    TakeOptions,
    call_function,
)


def _plain(name: str):
    """A function that takes only arrays and scalars."""
    def function(*args: Any) -> Any:
        return call_function(name, list(args))
    function.__name__ = name
    return function


if_else = _plain("if_else")
is_valid = _plain("is_valid")
is_finite = _plain("is_finite")
equal = _plain("equal")
less = _plain("less")
greater = _plain("greater")
and_ = _plain("and")
subtract = _plain("subtract")
utf8_length = _plain("utf8_length")
list_parent_indices = _plain("list_parent_indices")
binary_join = _plain("binary_join")
replace_with_mask = _plain("replace_with_mask")


def cast(array: Any, target_type: pa.DataType) -> Any:
    return call_function("cast", [array], CastOptions.safe(target_type))


def fill_null(values: Any, fill_value: Any) -> Any:
    # pyarrow.compute.fill_null is coalesce, after making the fill value a scalar of the values' type;
    # the writers' fill values are such scalars already.
    return call_function("coalesce", [values, fill_value])


def binary_join_element_wise(*strings: Any) -> Any:
    """The strings joined by the last one; a null among them makes the result null."""
    return call_function("binary_join_element_wise", list(strings), JoinOptions())


def match_substring_regex(strings: Any, pattern: str) -> Any:
    return call_function("match_substring_regex", [strings], MatchSubstringOptions(pattern))


def ends_with(strings: Any, pattern: str) -> Any:
    return call_function("ends_with", [strings], MatchSubstringOptions(pattern))


def replace_substring(strings: Any, pattern: str, replacement: str, max_replacements: int | None = None) -> Any:
    return call_function("replace_substring", [strings],
                         ReplaceSubstringOptions(pattern, replacement, max_replacements=max_replacements))


def replace_substring_regex(strings: Any, pattern: str, replacement: str,
                            max_replacements: int | None = None) -> Any:
    return call_function("replace_substring_regex", [strings],
                         ReplaceSubstringOptions(pattern, replacement, max_replacements=max_replacements))


def utf8_slice_codeunits(strings: Any, start: int, stop: int | None = None) -> Any:
    return call_function("utf8_slice_codeunits", [strings], SliceOptions(start, stop))


def strftime(timestamps: Any, format: str) -> Any:  # noqa: A002 (pyarrow's name)
    return call_function("strftime", [timestamps], StrftimeOptions(format))


def any(array: Any) -> pa.BooleanScalar:  # noqa: A001 (pyarrow's name)
    return call_function("any", [array], ScalarAggregateOptions(skip_nulls=True, min_count=1))


def filter(values: Any, selection: Any) -> Any:  # noqa: A001 (pyarrow's name)
    return call_function("filter", [values, selection], FilterOptions())


def take(data: Any, indices: Any) -> Any:
    return call_function("take", [data, indices], TakeOptions())


def sort_indices(data: Any, sort_keys: list[tuple[str, str]]) -> Any:
    return call_function("sort_indices", [data], SortOptions(sort_keys))
