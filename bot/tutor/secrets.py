"""Secrets at rest (LLM API keys, encrypted settings): Fernet tokens under the operator's COURSEBOT_SECRET_KEY.

Fernet is authenticated encryption (AES-128-CBC + HMAC-SHA256): a token decrypts only under the key that
made it, and a tampered token is refused. Plain secrets never go into logs or reprs from here.
"""

from __future__ import annotations

from cryptography.fernet import Fernet, InvalidToken
from pydantic import SecretStr

from bot.errors import CourseError


class SecretKeyMissing(CourseError):
    message = (
        "Stored secrets (such as LLM API keys) need an encryption key, and none is configured. "
        "The operator should set COURSEBOT_SECRET_KEY to the output of "
        '`python -c "from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())"` '
        "and restart the bot."
    )


class SecretKeyInvalid(CourseError):
    message = (
        "COURSEBOT_SECRET_KEY is not a valid key: it must be 32 url-safe base64-encoded bytes, "
        "as made by `Fernet.generate_key()`. The operator should fix it and restart the bot."
    )


class SecretUnreadable(CourseError):
    message = (
        "A stored secret could not be decrypted: it was saved under another COURSEBOT_SECRET_KEY, or it "
        "was altered. Restore the old key, or enter the secret again (for an API key: `/admin llm`)."
    )


class SecretBox:
    """Encrypts and decrypts text with one Fernet key. Build it with `SecretBox.from_key`."""

    __slots__ = ("_fernet",)

    def __init__(self, fernet: Fernet) -> None:
        self._fernet = fernet

    @classmethod
    def from_key(cls, key: SecretStr | str | None) -> SecretBox:
        """A box for `key` (e.g. `settings.secret_key`). Raises `SecretKeyMissing` or `SecretKeyInvalid`."""
        plain = key.get_secret_value() if isinstance(key, SecretStr) else key
        if not plain:
            raise SecretKeyMissing()
        try:
            return cls(Fernet(plain.encode()))
        except ValueError:
            raise SecretKeyInvalid() from None

    def __repr__(self) -> str:
        return "SecretBox(<key hidden>)"

    def encrypt(self, plaintext: str) -> str:
        """A Fernet token (ASCII) for `plaintext`; a different token on every call."""
        return self._fernet.encrypt(plaintext.encode()).decode("ascii")

    def decrypt(self, token: str) -> str:
        """The text `encrypt` was given. Raises `SecretUnreadable` for a token of another key or an altered one."""
        try:
            return self._fernet.decrypt(token.encode("ascii")).decode()
        except (InvalidToken, UnicodeError):
            raise SecretUnreadable() from None
