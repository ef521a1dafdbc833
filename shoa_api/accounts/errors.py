"""Account and authentication errors, each with a stable code and status."""

from __future__ import annotations


class AccountError(Exception):
    code = "account-error"
    status = 400
    title = "Account request refused"

    def __init__(self, detail: str, *, field: str | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.field = field


class InvalidSignupError(AccountError):
    code = "invalid-signup"
    status = 422
    title = "The signup has invalid fields"


class AccountExistsError(AccountError):
    code = "account-exists"
    status = 409
    title = "An account already uses that email or phone"


class InvalidCredentialsError(AccountError):
    code = "invalid-credentials"
    status = 401
    title = "Wrong login or password"


class InvalidTokenError(AccountError):
    code = "invalid-token"
    status = 401
    title = "The token is missing, malformed, expired or revoked"


class InvalidProfileError(AccountError):
    code = "invalid-profile"
    status = 422
    title = "The profile has invalid fields"
