from __future__ import annotations

import grpc
import pytest
from cronstream_server.api.auth import bearer_token
from cronstream_server.api.errors import STATUS_OF, status_code_of, to_status
from cronstream_server.core import errors
from cronstream_server.core.errors import FieldViolation, InvalidArgument, Unauthenticated


def test_bearer_token_is_read_from_authorization() -> None:
    assert bearer_token([("x-other", "1"), ("authorization", "Bearer cs_abc")]) == "cs_abc"
    assert bearer_token([("authorization", "bearer   cs_abc  ")]) == "cs_abc"


@pytest.mark.parametrize(
    "metadata",
    [None, [], [("authorization", "Basic abc")], [("authorization", "Bearer")], [("auth", "x")]],
)
def test_bearer_token_missing(metadata: list[tuple[str, str]] | None) -> None:
    with pytest.raises(Unauthenticated):
        bearer_token(metadata)


def test_every_domain_error_has_a_status_code() -> None:
    domain_errors = {
        cls
        for cls in vars(errors).values()
        if isinstance(cls, type) and issubclass(cls, errors.DomainError)
    } - {errors.DomainError}
    assert domain_errors <= set(STATUS_OF)
    assert status_code_of(errors.NotFound("job", "x")) == grpc.StatusCode.NOT_FOUND


def test_invalid_argument_carries_bad_request_details() -> None:
    status = to_status(
        InvalidArgument([FieldViolation("job.cron.expression", "minute 61 is out of range")])
    )
    assert status.code == grpc.StatusCode.INVALID_ARGUMENT
    assert "job.cron.expression" in status.details
    ((key, value),) = status.trailing_metadata
    assert key == "grpc-status-details-bin" and b"BadRequest" in value
