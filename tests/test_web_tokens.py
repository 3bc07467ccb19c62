"""Link tokens: one right has one string, payloads are type-checked, purposes never mix."""

from __future__ import annotations

import base64
import json
import time

import pytest
from itsdangerous import URLSafeSerializer
from paperdigest.core.errors import InvalidInput
from paperdigest.digest.tokens import PAGE_PURPOSES, TokenCodec

KEY = "k-test"


@pytest.fixture
def codec() -> TokenCodec:
    return TokenCodec([KEY])


def _variants(token: str) -> list[str]:
    """Same decoded bytes, other strings: padding added, spare bits of a last character set."""
    out = [token + "=", token + "==", token.replace(".", "=.", 1)]
    for i, part in enumerate(token.split(".")):
        if len(part) % 4 in (2, 3):  # the last character carries 4 or 2 unused bits
            alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
            last = alphabet.index(part[-1])
            for flip in (1, 2):
                changed = alphabet[last ^ flip]
                parts = token.split(".")
                parts[i] = part[:-1] + changed
                out.append(".".join(parts))
    return out


def test_non_canonical_spellings_of_a_valid_token_are_refused(codec: TokenCodec) -> None:
    tokens = [codec.feedback(1, "p1", "like", 3), codec.click(1, "p1", None), codec.unsubscribe(7),
              codec.page("settings", 5, 2), codec.form(5, 2, 9)]
    readers = [codec.read_feedback, codec.read_click, codec.read_unsubscribe,
               lambda t: codec.read_page("settings", t), codec.read_form]
    tried = 0
    for token, read in zip(tokens, readers, strict=True):
        read(token)  # the canonical one works
        for variant in _variants(token):
            if variant == token:
                continue
            # The variant decodes to exactly the same bytes: only the spelling differs.
            for part, other in zip(token.split("."), variant.rstrip("=").split("."), strict=True):
                other = other.rstrip("=")
                assert base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)) == \
                    base64.urlsafe_b64decode(other + "=" * (-len(other) % 4))
            tried += 1
            with pytest.raises(InvalidInput):
                read(variant)
    assert tried >= 15


def _forge(salt: str, payload: object) -> str:
    # What an attacker who knew the key could sign — here only to check the reader's type checks.
    import hashlib

    return URLSafeSerializer([KEY], salt=salt, signer_kwargs={"digest_method": hashlib.sha256}).dumps(payload)


@pytest.mark.parametrize("payload", [[True], [2**63], [0], [-1], ["1"], [1.0], [None], [1, 2]])
def test_unsubscribe_payload_types(codec: TokenCodec, payload: list[object]) -> None:
    with pytest.raises(InvalidInput):
        codec.read_unsubscribe(_forge("paperdigest.unsubscribe.v1", payload))


@pytest.mark.parametrize("payload", [[True, 0], [1, True], [2**63, 0], [1, -1], [1], [1, 0, 0], {"a": 1}])
def test_page_payload_types(codec: TokenCodec, payload: object) -> None:
    with pytest.raises(InvalidInput):
        codec.read_page("settings", _forge("paperdigest.page.settings.v1", payload))


def test_ids_at_the_limit_and_beyond(codec: TokenCodec) -> None:
    assert codec.read_unsubscribe(codec.unsubscribe(2**63 - 1)).reader_id == 2**63 - 1
    with pytest.raises(InvalidInput):
        codec.unsubscribe(2**63)
    with pytest.raises(InvalidInput):
        codec.page("settings", True, 0)  # type: ignore[arg-type]


def test_every_page_purpose_is_its_own(codec: TokenCodec) -> None:
    for purpose in PAGE_PURPOSES:
        token = codec.page(purpose, 4, 1)
        assert codec.read_page(purpose, token).reader_id == 4
        for other in PAGE_PURPOSES:
            if other != purpose:
                with pytest.raises(InvalidInput):
                    codec.read_page(other, token)
        for read in (codec.read_unsubscribe, codec.read_form, codec.read_signup):
            with pytest.raises(InvalidInput):
                read(token)
    with pytest.raises(InvalidInput):
        codec.read_page("settings", codec.unsubscribe(4))


def test_form_and_signup_tokens_expire(codec: TokenCodec, monkeypatch: pytest.MonkeyPatch) -> None:
    form, signup = codec.form(1, 0, 0), codec.signup("a@example.org", "A", ["graphs"])
    assert codec.read_signup(signup).keywords == ("graphs",)
    later = time.time() + 3 * 86_400
    monkeypatch.setattr(time, "time", lambda: later)
    with pytest.raises(InvalidInput, match="expired"):
        codec.read_form(form)
    with pytest.raises(InvalidInput, match="expired"):
        codec.read_signup(signup)


def test_page_tokens_carry_no_address(codec: TokenCodec) -> None:
    token = codec.page("feed", 12, 3)
    payload = token.split(".")[0]
    assert json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))) == [12, 3]


def test_page_tokens_are_exactly_what_itsdangerous_signs(codec: TokenCodec) -> None:
    import hashlib

    for purpose in PAGE_PURPOSES:
        slow = URLSafeSerializer([KEY], salt=f"paperdigest.page.{purpose}.v1",
                                 signer_kwargs={"digest_method": hashlib.sha256})
        assert codec.page(purpose, 42, 7) == slow.dumps([42, 7])


def test_every_one_character_change_of_a_token_is_refused(codec: TokenCodec) -> None:
    """Exhaustive over positions and the base64url alphabet plus '=' and '.': one right, one string."""
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_=."
    for token, read in ((codec.page("settings", 3, 1), lambda t: codec.read_page("settings", t)),
                        (codec.feedback(3, "2511.01234", "like", 9), codec.read_feedback)):
        accepted = 0
        for i in range(len(token)):
            for ch in alphabet:
                if ch == token[i]:
                    continue
                try:
                    read(token[:i] + ch + token[i + 1:])
                    accepted += 1
                except InvalidInput:
                    pass
        assert accepted == 0
