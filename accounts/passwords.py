"""Password rules and argon2id hashing (off the event loop: a hash takes tens of milliseconds by design).

A password is checked against zxcvbn's estimate of how many guesses it takes (docs/decisions/0004): its lists
are passwords from breach corpora, English words and names, and it sees the patterns people build from them
(``iloveyou`` + ``12``, keyboard rows, repeats, dates). The refusal says which weakness it found.
"""

from __future__ import annotations

import asyncio
import secrets

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from zxcvbn_rs_py import Warning as Weakness
from zxcvbn_rs_py import zxcvbn

from accounts.errors import InvalidSignupError

MIN_LENGTH = 10
MAX_LENGTH = 128
MIN_DISTINCT_CHARACTERS = 4
SAFE_SCORE = 3
"""zxcvbn's scores run from 0 to 4; 3 is its "safely unguessable" (about 10^8 guesses or more), the level its
authors advise as the least to accept."""

KOREAN_HABITS = frozenset({"dkssudgktpdy", "rkskekfkakqkt", "gkswndkfk1", "wlsdnjs123", "saranghae1", "saranghae12"})
"""Common Korean passwords that zxcvbn's English-language lists score as strong: Korean words typed on a Latin
keyboard (``dkssudgktpdy`` is 안녕하세요) and romanised ones. Refused whatever their case."""

SITE_WORDS = ("shoa",)
"""Words anyone guessing a Shoa password tries first."""

_COMMON = "this password is among the most common ones and appears in breached password lists; choose another"
# zxcvbn's weaknesses compare equal but cannot be hashed: tuples, not sets or dicts.
BREACHED = (Weakness.ThisIsATop10Password, Weakness.ThisIsATop100Password, Weakness.ThisIsACommonPassword)
_WEAKNESSES = (
    (Weakness.StraightRowsOfKeysAreEasyToGuess, "rows of keys are easy to guess"),
    (Weakness.ShortKeyboardPatternsAreEasyToGuess, "short keyboard patterns are easy to guess"),
    (Weakness.RepeatsLikeAaaAreEasyToGuess, "repeated characters are easy to guess"),
    (Weakness.RepeatsLikeAbcAbcAreOnlySlightlyHarderToGuess, "a repeated word is barely harder to guess than one"),
    (Weakness.SequencesLikeAbcAreEasyToGuess, "sequences such as abc or 6543 are easy to guess"),
    (Weakness.RecentYearsAreEasyToGuess, "recent years are easy to guess"),
    (Weakness.DatesAreOftenEasyToGuess, "dates are easy to guess"),
    (Weakness.AWordByItselfIsEasyToGuess, "a word by itself is easy to guess"),
    (Weakness.NamesAndSurnamesByThemselvesAreEasyToGuess, "a name by itself is easy to guess"),
    (Weakness.CommonNamesAndSurnamesAreEasyToGuess, "common names are easy to guess"),
)


def check_password_rules(password: str, *, identifiers: tuple[str | None, ...] = ()) -> None:
    """Refuse a password that is too short or too long, built on the shopper's own email or phone number, common
    or found in breaches, or otherwise easy to guess, saying which."""
    if len(password) < MIN_LENGTH:
        msg = f"a password needs at least {MIN_LENGTH} characters"
        raise InvalidSignupError(msg, field="password")
    if len(password) > MAX_LENGTH:
        msg = f"a password has at most {MAX_LENGTH} characters"
        raise InvalidSignupError(msg, field="password")
    lowered = password.lower()
    if len(set(lowered)) < MIN_DISTINCT_CHARACTERS:
        msg = f"a password needs at least {MIN_DISTINCT_CHARACTERS} different characters"
        raise InvalidSignupError(msg, field="password")
    # Of at least four characters: the "j" of j@example.kr would refuse most passwords.
    own = [identifier.lower().lstrip("+") for identifier in identifiers if identifier and len(identifier) >= 4]
    if any(identifier in lowered for identifier in own):
        msg = "a password must not contain your email or phone number"
        raise InvalidSignupError(msg, field="password")
    if lowered in KOREAN_HABITS:
        raise InvalidSignupError(_COMMON, field="password")
    estimate = zxcvbn(password, [*SITE_WORDS, *own])
    if int(estimate.score) >= SAFE_SCORE:
        return
    weakness = estimate.feedback.warning if estimate.feedback is not None else None
    if weakness in BREACHED:
        raise InvalidSignupError(_COMMON, field="password")
    if weakness == Weakness.ThisIsSimilarToACommonlyUsedPassword:
        msg = (
            "this password is a common one from breached password lists with a small change (such as digits or"
            " a symbol added); choose another"
        )
        raise InvalidSignupError(msg, field="password")
    reason = next((reason for known, reason in _WEAKNESSES if known == weakness), "it takes few guesses")
    msg = f"this password is too easy to guess ({reason}); add another word or two"
    raise InvalidSignupError(msg, field="password")


class Passwords:
    def __init__(self, *, time_cost: int, memory_kib: int, parallelism: int) -> None:
        self._hasher = PasswordHasher(time_cost=time_cost, memory_cost=memory_kib, parallelism=parallelism)
        # zxcvbn builds its dictionaries on its first call (about 15 ms): at start-up, not in a shopper's signup.
        zxcvbn(secrets.token_urlsafe(16), [])
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
