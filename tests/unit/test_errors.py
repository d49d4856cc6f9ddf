"""Errors read the way a user of the original expects."""

from discoworker.errors import DataError, JobError


def test_data_error_names_the_resource_like_the_original() -> None:
    err = DataError("Corrupted input", "file:///x")
    assert str(err) == "Unable to access resource (file:///x): Corrupted input"
    assert (err.msg, err.url) == ("Corrupted input", "file:///x")


def test_job_error_names_the_job_and_reason() -> None:
    assert str(JobError("J@1", "map:0 FATAL")) == "Job J@1 failed: map:0 FATAL"
