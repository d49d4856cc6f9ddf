"""The embedded master's DDFS keeps tag attributes, and its tokens guard tags as DDFS's do."""

from __future__ import annotations

import io
from collections.abc import Callable
from pathlib import Path

import pytest

from discoworker.adapters.embedded.ddfs_local import LocalDdfs
from discoworker.errors import CommError


@pytest.fixture
def ddfs(tmp_path: Path) -> LocalDdfs:
    return LocalDdfs(tmp_path / "ddfs")


def test_a_read_token_guards_a_tag_until_it_is_given_as_user_info(ddfs: LocalDdfs) -> None:
    urls = ddfs.push("data:secret", "blob", io.BytesIO(b"blobdata"))
    ddfs.setattr("data:secret", "ddfs:read-token", "r")
    for tag in ("data:secret", "tag://data:secret", "user:wrong@/data:secret"):
        with pytest.raises(CommError) as refused:
            ddfs.blobs(tag)
        assert refused.value.code == 401
        assert "data:secret" in str(refused.value)
    assert ddfs.blobs("tag://user:r@/data:secret") == [urls]
    assert ddfs.blobs("r@/data:secret") == [urls]
    # The tokens are never shown in the tag object.
    assert "read-token" not in ddfs.get("user:r@/data:secret")
    assert ddfs.getattr("user:r@/data:secret", "ddfs:read-token") == "r"


def test_a_token_given_for_a_tag_is_offered_to_the_tags_it_links(ddfs: LocalDdfs) -> None:
    urls = ddfs.push("data:inner", "blob", io.BytesIO(b"x"))
    ddfs.setattr("data:inner", "ddfs:read-token", "r")
    ddfs.tag("data:outer", [["tag://data:inner"]])
    assert ddfs.blobs("user:r@/data:outer") == [urls]
    with pytest.raises(CommError):
        ddfs.blobs("data:outer")


def test_a_write_token_guards_changes_but_not_reading(ddfs: LocalDdfs) -> None:
    ddfs.tag("data:w", [["raw://a"]])
    ddfs.setattr("data:w", "ddfs:write-token", "w")
    assert ddfs.blobs("data:w") == [["raw://a"]]
    changes: list[Callable[[], None]] = [
        lambda: ddfs.tag("data:w", [["raw://b"]]),
        lambda: ddfs.setattr("data:w", "note", "x"),
        lambda: ddfs.delete("data:w"),
    ]
    for change in changes:
        with pytest.raises(CommError) as refused:
            change()
        assert refused.value.code == 401
    ddfs.tag("user:w@/data:w", [["raw://b"]])
    assert ddfs.blobs("data:w") == [["raw://b"], ["raw://a"]]  # newest first, as DDFS
    ddfs.delete("user:w@/data:w")
    assert ddfs.tags() == []


def test_a_tag_made_with_a_token_is_guarded_by_it(ddfs: LocalDdfs) -> None:
    ddfs.tag("user:t@/data:mine", [["raw://a"]])
    with pytest.raises(CommError):
        ddfs.get("data:mine")
    assert ddfs.get("user:t@/data:mine")["urls"] == [["raw://a"]]


def test_user_attributes_are_kept_in_user_data(ddfs: LocalDdfs) -> None:
    ddfs.tag("data:a", [["raw://a"]])
    ddfs.setattr("data:a", "origin", "survey")
    assert ddfs.getattr("data:a", "origin") == "survey"
    assert ddfs.get("data:a")["user-data"] == {"origin": "survey"}
    ddfs.delattr("data:a", "origin")
    assert ddfs.get("data:a")["user-data"] == {}
    with pytest.raises(CommError) as missing:
        ddfs.getattr("data:a", "origin")
    assert missing.value.code == 404
    with pytest.raises(CommError) as bad:
        ddfs.setattr("data:a", "origin", 3)
    assert bad.value.code == 400
    with pytest.raises(CommError) as bad_name:
        ddfs.setattr("data/a", "origin", "x")
    assert bad_name.value.code == 400
