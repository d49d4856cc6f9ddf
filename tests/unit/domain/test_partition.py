"""The default partition: MD5 of the key, as the original's Python 3 worker computes it."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from discoworker.domain.partition import (
    default_labels,
    default_partition,
    key_digest,
    make_range_partition,
)
from tests.unit.domain._recordings import recorded_tasks


def test_job2_words_went_where_md5_says(golden: Path) -> None:
    # partitions=2. Map 0 ("foo bar hello hello") wrote only label 0; map 1 ("hello world
    # foo") wrote labels 0 and 1; reduce 1 got one record: "world" is the only key of label 1.
    job = golden / "real-master" / "job2_wordcount_ok"
    labels = {
        rec.spec.group[1]: sorted(label for label, _loc, _size in rec.outputs)
        for rec in recorded_tasks(job)
        if rec.spec.stage == "map"
    }
    assert labels == {"foo_bar_hello_hello": [0], "hello_world_foo": [0, 1]}
    assert [default_partition(w, 2) for w in ("foo", "bar", "hello", "world")] == [0, 0, 0, 1]
    # Python's hash() would not even be stable across processes; md5 is.
    assert default_partition(b"world", 2, None) == 1


def test_value_is_md5_as_a_big_integer() -> None:
    want = int(hashlib.md5("ключ".encode()).hexdigest(), 16) % 7
    assert default_partition("ключ", 7) == want
    assert key_digest(b"") == int("d41d8cd98f00b204e9800998ecf8427e", 16)
    assert default_partition(bytearray(b"ab"), 3) == default_partition(b"ab", 3)
    assert default_partition("x", 1) == 0


@pytest.mark.parametrize(("key", "text"), [(1, "1"), (-7, "-7"), (1.5, "1.5"), (None, "None"),
                                           (("a", 2), "('a', 2)"), (["a"], "['a']")])
def test_other_keys_go_where_their_str_goes_as_disco_python2_placed_them(
    key: object, text: str
) -> None:
    want = int(hashlib.md5(text.encode()).hexdigest(), 16) % 5
    assert default_partition(key, 5) == want


def test_an_int_key_lands_on_the_same_label_in_another_process() -> None:
    import subprocess
    import sys

    code = ("from discoworker.domain.partition import default_partition;"
            "print([default_partition(k, 7) for k in (12345, (1, 'x'), 2.5)])")
    other = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                           check=True, env={"PYTHONHASHSEED": "77"})
    assert other.stdout.strip() == str([default_partition(k, 7) for k in (12345, (1, "x"), 2.5)])


def test_a_key_whose_str_changes_between_processes_is_a_clear_error() -> None:
    class Point:
        pass

    with pytest.raises(TypeError, match="cannot place a Point key"):
        default_partition(Point(), 2)


@pytest.mark.parametrize("n", [0, -1, True, 2.0])
def test_bad_partition_counts(n: object) -> None:
    with pytest.raises((TypeError, ValueError)):
        default_partition("k", n)  # type: ignore[arg-type]


@given(st.one_of(st.text(), st.binary()), st.integers(min_value=1, max_value=10**6))
def test_label_in_range_and_text_equals_its_utf8(key: str | bytes, n: int) -> None:
    label = default_partition(key, n)
    assert 0 <= label < n
    if isinstance(key, str):
        assert label == default_partition(key.encode("utf-8", "surrogatepass"), n)


def test_range_partition() -> None:
    part = make_range_partition(0, 100)
    assert [part(k, 5, None) for k in (0, 12, 13, 50, 100)] == [0, 0, 1, 2, 4]
    assert part("40", 5, None) == 2
    assert part(-50, 5, None) == 0 and part(1000, 5, None) == 4
    with pytest.raises(ValueError):
        make_range_partition(3, 3)
    with pytest.raises(TypeError):
        part(None, 5, None)


@given(
    keys=st.lists(st.text() | st.binary() | st.integers() | st.tuples(st.integers())),
    partitions=st.integers(1, 9),
)
def test_default_labels_are_default_partition_of_each_key(
    keys: list[object], partitions: int
) -> None:
    assert default_labels(keys, partitions) == [default_partition(k, partitions) for k in keys]
    assert default_labels(["hello"], 2) == [int(hashlib.md5(b"hello").hexdigest(), 16) % 2]
