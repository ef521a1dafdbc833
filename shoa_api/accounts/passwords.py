"""Password rules and argon2id hashing (off the event loop: a hash takes tens of milliseconds by design)."""

from __future__ import annotations

import asyncio
import secrets
from typing import TYPE_CHECKING

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from shoa_api.accounts.errors import InvalidSignupError

if TYPE_CHECKING:
    from shoa_api.settings import PasswordSettings

MIN_LENGTH = 10
MAX_LENGTH = 128

# The commonest passwords of breach corpora (and their Korean-keyboard habits) that are long enough to pass
# the length rule; anything on it is refused whatever its case.
COMMON_PASSWORDS = frozenset(
    {
        "1234567890", "0123456789", "12345678910", "1q2w3e4r5t", "1q2w3e4r5t6y", "qwertyuiop", "qwerty1234",
        "qwerty12345", "1qaz2wsx3edc", "asdfghjkl1", "asdfghjkl;", "zxcvbnm123", "password12", "password123",
        "password1!", "passw0rd12", "p@ssw0rd12", "iloveyou12", "iloveyou123", "abcdefghij", "abcd123456",
        "abc1234567", "aa12345678", "a123456789", "q1w2e3r4t5", "0987654321", "1111111111", "0000000000",
        "1212121212", "1122334455", "1231231234", "1234512345", "9876543210", "11223344556", "qwer123456",
        "qwer1234!!", "sarang1234", "saranghae1", "saranghae12", "dkssudgktpdy", "rkskekfkakqkt", "gkswndkfk1",
        "wlsdnjs123", "tkfkdgo123", "admin12345", "welcome123", "letmein123", "football12", "baseball12",
        "princess12", "sunshine12", "superman12", "dragon1234", "monkey1234", "shoa123456", "shoashoa12",
    }
)  # fmt: skip


def check_password_rules(password: str, *, identifiers: tuple[str | None, ...] = ()) -> None:
    if len(password) < MIN_LENGTH:
        msg = f"a password needs at least {MIN_LENGTH} characters"
        raise InvalidSignupError(msg, field="password")
    if len(password) > MAX_LENGTH:
        msg = f"a password has at most {MAX_LENGTH} characters"
        raise InvalidSignupError(msg, field="password")
    lowered = password.lower()
    if lowered in COMMON_PASSWORDS or len(set(lowered)) < 4:
        msg = "this password is among the most common ones; choose another"
        raise InvalidSignupError(msg, field="password")
    if any(identifier and identifier.lower().lstrip("+") in lowered for identifier in identifiers):
        msg = "a password must not contain your email or phone number"
        raise InvalidSignupError(msg, field="password")


class Passwords:
    def __init__(self, settings: PasswordSettings) -> None:
        self._hasher = PasswordHasher(
            time_cost=settings.time_cost, memory_cost=settings.memory_kib, parallelism=settings.parallelism
        )
        # Made with today's parameters, so that checking a password against it costs what a real check costs.
        self._stand_in_hash = self._hasher.hash(secrets.token_urlsafe(16))

    async def hash(self, password: str) -> str:
        return await asyncio.to_thread(self._hasher.hash, password)

    async def verify(self, password_hash: str, password: str) -> bool:
        try:
            return await asyncio.to_thread(self._hasher.verify, password_hash, password)
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False

    def needs_rehash(self, password_hash: str) -> bool:
        """True when the hash was made with other parameters than today's settings."""
        return self._hasher.check_needs_rehash(password_hash)

    async def burn_time(self, password: str) -> None:
        """Spend what a real check costs, so that an unknown login takes as long as a wrong password and timing
        does not tell whether an account exists."""
        await self.verify(self._stand_in_hash, password)
