"""Messages from storage libraries, scrubbed of anything secret."""

from __future__ import annotations

from imagebuild.remote.errors import RemoteError, scrub

SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"


def test_user_and_password_leave_urls() -> None:
    assert scrub("cannot reach s3://AKIA:hunter2@bucket/x now") == "cannot reach s3://bucket/x now"


def test_signed_query_strings_leave_urls_and_other_question_marks_stay() -> None:
    text = 'GET "https://b.s3.amazonaws.com/k?X-Amz-Signature=abc&X-Amz-Credential=d" failed; why?'
    assert scrub(text) == 'GET "https://b.s3.amazonaws.com/k" failed; why?'


def test_secret_variables_are_masked() -> None:
    environ = {"AWS_SECRET_ACCESS_KEY": SECRET, "AWS_REGION": "eu-west-1"}
    assert (
        scrub(f"signature for {SECRET} in eu-west-1", environ) == "signature for *** in eu-west-1"
    )


def test_remote_errors_are_scrubbed(monkeypatch: object) -> None:
    assert str(RemoteError("s3://u:p@bucket: down")) == "s3://bucket: down"
