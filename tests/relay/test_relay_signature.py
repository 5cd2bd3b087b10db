"""Webhook signatures: HMAC-SHA256 of the raw body, constant-time compare, secret rotation."""

from __future__ import annotations

import pytest
from relay_helpers import OLD_SECRET, SECRET, body_of, error_created, sign

from ld_sentry_cli.errors import UsageError
from ld_sentry_cli.relay.signature import client_secrets, verify
from ld_sentry_cli.relay.signature import sign as relay_sign
from ld_sentry_cli.secrets import redact

BODY = body_of(error_created("bb78c1407cea4519aa397afc059c793d"))
KEYS = (SECRET.encode(),)

# Known answers computed outside Python, with `printf '%s' BODY | openssl dgst -sha256 -hmac KEY`.
KNOWN_BODY = b'{"action":"created","data":{"error":{"event_id":"bb78c1407cea4519aa397afc059c793d"}}}'
KNOWN_SIGNATURE = "856200d5903665df7b282e2924d6494fffc5b28ddc4a7246674a42d06654097e"  # key: SECRET


def test_the_signature_is_lowercase_hex_hmac_sha256_of_the_exact_body() -> None:
    assert SECRET == "relay-test-client-secret"
    assert relay_sign(SECRET.encode(), KNOWN_BODY) == KNOWN_SIGNATURE
    # The textbook HMAC-SHA256 example (key "key"), as the same openssl command gives it.
    assert relay_sign(b"key", b"The quick brown fox jumps over the lazy dog") == (
        "f7bc83f430538424b13298e6aa6fb143ef4d59a14946175997479dbc2d1a3cd8"
    )


def test_the_known_signature_verifies_and_the_tests_sign_the_same_way() -> None:
    assert verify(KEYS, KNOWN_BODY, KNOWN_SIGNATURE)
    assert not verify(KEYS, KNOWN_BODY + b" ", KNOWN_SIGNATURE)
    assert sign(KNOWN_BODY) == KNOWN_SIGNATURE  # the helper every other relay test signs with


def test_a_valid_signature_verifies() -> None:
    assert verify(KEYS, BODY, sign(BODY))


def test_upper_case_hex_is_the_same_signature() -> None:
    assert verify(KEYS, BODY, sign(BODY).upper())


@pytest.mark.parametrize("signature", [None, "", "   "])
def test_a_missing_signature_fails(signature: str | None) -> None:
    assert not verify(KEYS, BODY, signature)


@pytest.mark.parametrize(
    "signature",
    [
        sign(BODY, "another-secret"),
        "0" * 64,
        sign(BODY)[:-1],  # truncated
        "not hex at all",
        sign(BODY) + "00",
    ],
)
def test_a_wrong_signature_fails(signature: str) -> None:
    assert not verify(KEYS, BODY, signature)


def test_a_body_changed_by_one_byte_fails() -> None:
    signature = sign(BODY)
    position = BODY.index(b"production")
    changed = BODY[:position] + b"P" + BODY[position + 1 :]
    assert len(changed) == len(BODY)
    assert not verify(KEYS, changed, signature)
    assert not verify(KEYS, BODY + b" ", signature)  # re-serialised JSON is another body


def test_rotation_accepts_the_new_and_the_old_secret() -> None:
    keys = (SECRET.encode(), OLD_SECRET.encode())
    assert verify(keys, BODY, sign(BODY, SECRET))
    assert verify(keys, BODY, sign(BODY, OLD_SECRET))
    assert not verify(keys, BODY, sign(BODY, "retired"))


def test_secrets_come_from_a_comma_separated_list(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SENTRY_CLIENT_SECRET", f" {SECRET} , {OLD_SECRET},")
    assert client_secrets() == (SECRET.encode(), OLD_SECRET.encode())


def test_secrets_come_from_the_previous_variable_too(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SENTRY_CLIENT_SECRET_PREVIOUS", OLD_SECRET)
    assert client_secrets() == (SECRET.encode(), OLD_SECRET.encode())


def test_every_secret_is_registered_for_redaction(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SENTRY_CLIENT_SECRET", "first-rotating-secret,second-rotating-secret")
    client_secrets()
    assert redact("a first-rotating-secret and a second-rotating-secret") == "a [REDACTED] and a [REDACTED]"


@pytest.mark.parametrize("value", [None, "", " , "])
def test_no_secret_is_a_usage_error(monkeypatch: pytest.MonkeyPatch, value: str | None) -> None:
    if value is None:
        monkeypatch.delenv("SENTRY_CLIENT_SECRET")
    else:
        monkeypatch.setenv("SENTRY_CLIENT_SECRET", value)
    monkeypatch.setenv("SENTRY_CLIENT_SECRET_PREVIOUS", OLD_SECRET)  # the old one alone is not enough
    with pytest.raises(UsageError) as caught:
        client_secrets()
    assert caught.value.message == "No Sentry client secret: set SENTRY_CLIENT_SECRET."
    assert "SENTRY_CLIENT_SECRET_PREVIOUS" in (caught.value.hint or "")
