"""Account and authentication errors, each with a stable code and status."""

from __future__ import annotations

from shoa_kernel.errors import DomainError


class AccountError(DomainError):
    code = "account-error"
    status = 400
    title = "Account request refused"


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


class OAuthProviderNotFoundError(AccountError):
    code = "oauth-provider-not-found"
    status = 404
    title = "No such social login"


class InvalidOAuthStateError(AccountError):
    code = "invalid-oauth-state"
    status = 400
    title = "The social login was not started here, has expired, or was already finished"


class OAuthDeniedError(AccountError):
    code = "oauth-denied"
    status = 400
    title = "The social login was cancelled or refused"


class OAuthCodeRejectedError(AccountError):
    code = "oauth-code-rejected"
    status = 400
    title = "The provider refused the login code"


class OAuthIdTokenRejectedError(AccountError):
    code = "oauth-id-token-rejected"
    status = 400
    title = "The provider's identity token did not check out"


class OAuthProviderUnavailableError(AccountError):
    code = "oauth-provider-unavailable"
    status = 502
    title = "The social login provider is not answering properly"


class OAuthAccountConflictError(AccountError):
    code = "oauth-account-conflict"
    status = 409
    title = "Another login changed this account at the same moment"


class UnderageShopperError(AccountError):
    code = "underage-shopper"
    status = 403
    title = "Shoa accounts are for shoppers aged 14 or over"


class LoginLockedError(AccountError):
    code = "login-locked"
    status = 429
    title = "Too many wrong passwords"

    def __init__(self, detail: str, *, retry_after: int) -> None:
        super().__init__(detail)
        self.retry_after = retry_after


class UnknownMarketingChannelError(AccountError):
    """A marketing consent asked for on a channel that takes none; ``channel`` names it as a path parameter."""

    code = "unknown-marketing-channel"
    status = 422
    title = "No such marketing channel"

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.extra = {"errors": [{"field": "channel", "source": "path", "message": detail}]}


class TooManyConsentChangesError(AccountError):
    """More marketing consents given in a day than one shopper may: each change sends her a notice."""

    code = "too-many-consent-changes"
    status = 429
    title = "Too many marketing consent changes"

    def __init__(self, detail: str, *, retry_after: int) -> None:
        super().__init__(detail)
        self.retry_after = retry_after


class NightConsentWithoutMediumError(AccountError):
    code = "night-consent-needs-a-medium"
    status = 409
    title = "Night-time advertising needs a channel agreed to first"
