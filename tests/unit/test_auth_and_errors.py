from __future__ import annotations

import grpc
import pytest
from cronstream_server.api.auth import bearer_token
from cronstream_server.api.errors import STATUS_OF, reportable, status_code_of, to_status
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


def test_invalid_argument_details_stay_within_the_trailer_limit() -> None:
    # Clients refuse trailers over 8 KiB: a thousand violations, or one huge
    # bad value, are cut to what fits, and the message says how many are left out.
    many = [FieldViolation(f"requests[{i}].job.name", "is required") for i in range(1000)]
    huge = [FieldViolation("job.metadata['" + "k" * 10_000 + "']", "🚀" * 10_000)]
    wide = [FieldViolation("🚀" * 300, "🚀" * 10_000)] * 50  # percent-encoded thrice
    for violations in (many, huge, wide):
        status = to_status(InvalidArgument(violations))
        # As sent: the message percent-encoded, the binary details in base64.
        message = sum(1 if 0x20 <= b <= 0x7E and b != 0x25 else 3 for b in status.details.encode())
        details = sum(len(v) * 4 // 3 + 4 for _, v in status.trailing_metadata)
        assert message + details < 8192, (message, details)
    many_status = to_status(InvalidArgument(many))
    shown, hidden = reportable(many)
    assert many_status.details.endswith(f" (and {hidden} more)")
    assert shown[0] == many[0] and len(shown) + hidden == 1000
    assert reportable(huge)[0][0].description.endswith("…")
