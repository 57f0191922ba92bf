"""Why a use case refused; the HTTP edge answers each as one problem document (entrypoints/http)."""

from __future__ import annotations


class UseCaseError(Exception):
    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


class NotFound(UseCaseError):
    """The thing asked for does not exist."""


class Conflict(UseCaseError):
    """The request contradicts the current state (a locked week, a decided sign-off); `reason`: a stable code
    of why, where a client may act on it (a sign-off's domain.signoff.Refusal)."""

    def __init__(self, detail: str, *, reason: str | None = None) -> None:
        super().__init__(detail)
        self.reason = reason


class Unavailable(UseCaseError):
    """A service this use case needs did not answer; the same request can be sent again."""


class Invalid(UseCaseError):
    """Input well-formed but wrong; `errors` are (field, message) pairs, messages without the values.

    A field is a JSON pointer without its first "/" ("areas/0/staff_id"); "" is the body as a whole.
    """

    def __init__(self, errors: list[tuple[str, str]]) -> None:
        super().__init__("; ".join(message for _, message in errors))
        self.errors = errors

    @classmethod
    def at(cls, name: str, message: str) -> Invalid:
        return cls([(name, message)])
