"""WebAuthn registration and authentication ceremonies (thin layer over py_webauthn).

Terms:

relying party (RP)
    This server.  `rp_id` is its domain (e.g. ``"leitstand.example"``); an
    authenticator scopes every credential to it.
origin
    The scheme+host(+port) the browser page ran on, e.g.
    ``"https://leitstand.example"``; the browser signs it into clientDataJSON.
challenge
    Random bytes issued with the options; the caller keeps them (e.g. in the
    session) and passes them back as `expected_challenge`, which binds the
    response to this one ceremony.
sign count
    A counter the authenticator increments on each use.  A count that fails
    to increase hints at a cloned authenticator or a replayed response.

Options are returned as JSON-ready dicts with binary values base64url-encoded;
the browser decodes them before calling ``navigator.credentials.create/get``.
Credentials are the browser's JSON form (``PublicKeyCredential.toJSON()``).
"""

import base64
import binascii
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from webauthn import (
    generate_authentication_options,
    generate_registration_options,
    verify_authentication_response,
    verify_registration_response,
)
from webauthn.helpers import (
    base64url_to_bytes,
    decode_credential_public_key,
    decoded_public_key_to_cryptography,
    options_to_json_dict,
)
from webauthn.helpers.structs import (
    AttestationConveyancePreference,
    AuthenticatorSelectionCriteria,
    PublicKeyCredentialDescriptor,
    UserVerificationRequirement,
)

# The WebAuthn spec caps user handles at 64 bytes.
MAX_USER_ID_SIZE = 64

_BASE64URL = re.compile(r"[A-Za-z0-9_-]*")

_REGISTRATION_FIELDS = ("clientDataJSON", "attestationObject")
_AUTHENTICATION_FIELDS = ("clientDataJSON", "authenticatorData", "signature")


@dataclass(frozen=True)
class RegisteredKey:
    """A verified new credential, to be stored against the user.

    `public_key` is the COSE-encoded key, as `verify_authentication` wants it.
    """

    credential_id: bytes
    public_key: bytes
    sign_count: int


class WebAuthnError(ValueError):
    """A registration or authentication response was refused."""


def registration_options(
    *,
    rp_id: str,
    rp_name: str,
    user_id: bytes,
    user_name: str,
    user_display_name: str,
    exclude_credential_ids: list[bytes],
) -> tuple[dict, bytes]:
    """Return (options for ``navigator.credentials.create``, challenge).

    `user_id` is the opaque user handle the authenticator stores; it must not
    contain personal data.  `exclude_credential_ids` lists the user's existing
    credentials so the same authenticator is not registered twice.
    """
    # py_webauthn silently substitutes a random handle for an empty one, which
    # would detach the credential from the user; refuse instead.
    if not user_id or len(user_id) > MAX_USER_ID_SIZE:
        raise ValueError(f"user_id must be 1 to {MAX_USER_ID_SIZE} bytes")
    options = generate_registration_options(
        rp_id=rp_id,
        rp_name=rp_name,
        user_id=user_id,
        user_name=user_name,
        user_display_name=user_display_name,
        # We do not vet authenticator makes, so asking for attestation would
        # only cost the user a privacy prompt.
        attestation=AttestationConveyancePreference.NONE,
        authenticator_selection=AuthenticatorSelectionCriteria(
            user_verification=UserVerificationRequirement.PREFERRED,
        ),
        exclude_credentials=[
            PublicKeyCredentialDescriptor(id=credential_id)
            for credential_id in exclude_credential_ids
        ],
        # Library default: EdDSA, ES256, RS256.
    )
    return options_to_json_dict(options), options.challenge


def verify_registration(
    *, credential: dict, expected_challenge: bytes, rp_id: str, origin: str
) -> RegisteredKey:
    """Verify the browser's answer to `registration_options`."""
    _check_credential_shape(credential, _REGISTRATION_FIELDS)
    with _refused_as_webauthn_error("registration"):
        verified = verify_registration_response(
            credential=credential,
            expected_challenge=expected_challenge,
            expected_rp_id=rp_id,
            expected_origin=origin,
            # "preferred" verification: a security key without a PIN is
            # still a valid second factor.
            require_user_verification=False,
        )
        # With "none" attestation nothing vouches for the key bytes, and
        # py_webauthn does not load the key here; do it now so a key that
        # could never verify a signature (e.g. not on its curve) is refused
        # instead of stored.
        decoded_public_key_to_cryptography(
            decode_credential_public_key(verified.credential_public_key)
        )
    # Later assertions are looked up by the id the browser reports, so it must
    # be the id the authenticator attested; py_webauthn does not compare them.
    if verified.credential_id != base64url_to_bytes(credential["rawId"]):
        raise WebAuthnError("attested credential id does not match rawId")
    return RegisteredKey(
        credential_id=verified.credential_id,
        public_key=verified.credential_public_key,
        sign_count=verified.sign_count,
    )


def authentication_options(
    *, rp_id: str, allow_credential_ids: list[bytes]
) -> tuple[dict, bytes]:
    """Return (options for ``navigator.credentials.get``, challenge)."""
    options = generate_authentication_options(
        rp_id=rp_id,
        allow_credentials=[
            PublicKeyCredentialDescriptor(id=credential_id)
            for credential_id in allow_credential_ids
        ],
        user_verification=UserVerificationRequirement.PREFERRED,
    )
    return options_to_json_dict(options), options.challenge


def verify_authentication(
    *,
    credential: dict,
    expected_challenge: bytes,
    rp_id: str,
    origin: str,
    public_key: bytes,
    sign_count: int,
) -> int:
    """Verify an assertion made with the stored credential; return its new sign count.

    `public_key` and `sign_count` are the values stored for the credential
    whose id the browser sent.  The caller must store the returned count.
    A count that does not increase is refused, except that authenticators
    which do not count at all (always 0) are accepted, as the spec allows.
    """
    _check_credential_shape(credential, _AUTHENTICATION_FIELDS)
    with _refused_as_webauthn_error("authentication"):
        verified = verify_authentication_response(
            credential=credential,
            expected_challenge=expected_challenge,
            expected_rp_id=rp_id,
            expected_origin=origin,
            credential_public_key=public_key,
            credential_current_sign_count=sign_count,
            require_user_verification=False,
        )
    return verified.new_sign_count


def _check_credential_shape(credential: Any, response_fields: tuple[str, ...]) -> None:
    """Refuse credentials whose structure or base64url is wrong.

    py_webauthn decodes base64 leniently (it drops invalid characters), so we
    check strictly first: garbage should be refused as garbage, not verified
    as whatever bytes happen to survive.
    """
    if not isinstance(credential, dict):
        raise WebAuthnError("credential must be a JSON object")
    if credential.get("type") != "public-key":
        raise WebAuthnError('credential type must be "public-key"')
    response = credential.get("response")
    if not isinstance(response, dict):
        raise WebAuthnError("credential.response must be a JSON object")

    fields = {"id": credential.get("id"), "rawId": credential.get("rawId")}
    fields.update((name, response.get(name)) for name in response_fields)
    for name, value in fields.items():
        _require_base64url(name, value)
    # Non-discoverable credentials come back without a user handle.
    if response.get("userHandle"):
        _require_base64url("userHandle", response["userHandle"])


def _require_base64url(name: str, value: Any) -> None:
    if not isinstance(value, str) or not value:
        raise WebAuthnError(f"{name} must be a non-empty base64url string")
    # Browsers omit padding; tolerate it from other clients.
    unpadded = value.rstrip("=")
    if not _BASE64URL.fullmatch(unpadded):
        raise WebAuthnError(f"{name} is not valid base64url")
    try:
        base64.urlsafe_b64decode(unpadded + "=" * (-len(unpadded) % 4))
    except binascii.Error as exc:  # e.g. an impossible length
        raise WebAuthnError(f"{name} is not valid base64url") from exc


@contextmanager
def _refused_as_webauthn_error(ceremony: str) -> Iterator[None]:
    """Turn any failure inside py_webauthn into WebAuthnError.

    Hostile input reaches parsers (CBOR, COSE, ASN.1, cryptography) that raise
    a wide variety of exception types; callers need a single "refused" type so
    that no malformed response can surface as a server error.
    """
    try:
        yield
    except Exception as exc:
        raise WebAuthnError(f"{ceremony} response refused: {exc}") from exc
