import copy

import cbor2
import pytest

from leitstand.auth.webauthn_ceremony import (
    RegisteredKey,
    WebAuthnError,
    authentication_options,
    registration_options,
    verify_authentication,
    verify_registration,
)
from tests.helpers.soft_authenticator import SoftAuthenticator, b64url_decode, b64url_encode

RP_ID = "leitstand.example"
ORIGIN = "https://leitstand.example"
USER_ID = b"user-handle-0001"


def new_registration_options(exclude: list[bytes] | None = None) -> tuple[dict, bytes]:
    return registration_options(
        rp_id=RP_ID,
        rp_name="Leitstand",
        user_id=USER_ID,
        user_name="ada",
        user_display_name="Ada Lovelace",
        exclude_credential_ids=exclude or [],
    )


def register(authenticator: SoftAuthenticator) -> RegisteredKey:
    options, challenge = new_registration_options()
    credential = authenticator.create(options)
    return verify_registration(
        credential=credential, expected_challenge=challenge, rp_id=RP_ID, origin=ORIGIN
    )


def assertion_for(authenticator: SoftAuthenticator, key: RegisteredKey) -> tuple[dict, bytes]:
    options, challenge = authentication_options(
        rp_id=RP_ID, allow_credential_ids=[key.credential_id]
    )
    return authenticator.get(options), challenge


def verify_assertion(credential: dict, challenge: bytes, key: RegisteredKey, **overrides) -> int:
    arguments = {
        "credential": credential,
        "expected_challenge": challenge,
        "rp_id": RP_ID,
        "origin": ORIGIN,
        "public_key": key.public_key,
        "sign_count": key.sign_count,
    }
    arguments.update(overrides)
    return verify_authentication(**arguments)


def test_registration_options_are_browser_ready():
    options, challenge = new_registration_options(exclude=[b"old-credential"])

    assert b64url_decode(options["challenge"]) == challenge
    assert len(challenge) >= 16
    assert options["rp"] == {"id": RP_ID, "name": "Leitstand"}
    assert b64url_decode(options["user"]["id"]) == USER_ID
    assert options["attestation"] == "none"
    assert options["authenticatorSelection"]["userVerification"] == "preferred"
    assert {param["alg"] for param in options["pubKeyCredParams"]} >= {-7, -8, -257}
    assert options["excludeCredentials"] == [
        {"id": b64url_encode(b"old-credential"), "type": "public-key"}
    ]


def test_each_ceremony_gets_a_fresh_challenge():
    assert new_registration_options()[1] != new_registration_options()[1]


def test_register_then_authenticate_round_trip():
    authenticator = SoftAuthenticator(ORIGIN)

    key = register(authenticator)
    credential, challenge = assertion_for(authenticator, key)
    new_sign_count = verify_assertion(credential, challenge, key)

    assert key.credential_id in authenticator.credentials
    assert key.sign_count == 0
    assert new_sign_count == 1


def test_authentication_options_list_allowed_credentials():
    options, challenge = authentication_options(rp_id=RP_ID, allow_credential_ids=[b"a", b"b"])

    assert b64url_decode(options["challenge"]) == challenge
    assert options["rpId"] == RP_ID
    assert options["userVerification"] == "preferred"
    assert [b64url_decode(allowed["id"]) for allowed in options["allowCredentials"]] == [b"a", b"b"]


def test_registration_with_wrong_challenge_is_refused():
    authenticator = SoftAuthenticator(ORIGIN)
    options, _ = new_registration_options()
    _, other_challenge = new_registration_options()

    with pytest.raises(WebAuthnError):
        verify_registration(
            credential=authenticator.create(options),
            expected_challenge=other_challenge,
            rp_id=RP_ID,
            origin=ORIGIN,
        )


def test_registration_from_wrong_origin_is_refused():
    phishing_page = SoftAuthenticator("https://leitstand.example.evil")
    options, challenge = new_registration_options()

    with pytest.raises(WebAuthnError):
        verify_registration(
            credential=phishing_page.create(options),
            expected_challenge=challenge,
            rp_id=RP_ID,
            origin=ORIGIN,
        )


def test_registration_for_wrong_rp_id_is_refused():
    authenticator = SoftAuthenticator(ORIGIN)
    options, challenge = new_registration_options()

    with pytest.raises(WebAuthnError):
        verify_registration(
            credential=authenticator.create(options),
            expected_challenge=challenge,
            rp_id="other.example",
            origin=ORIGIN,
        )


def test_authentication_with_wrong_challenge_is_refused():
    authenticator = SoftAuthenticator(ORIGIN)
    key = register(authenticator)
    credential, _ = assertion_for(authenticator, key)
    _, other_challenge = authentication_options(rp_id=RP_ID, allow_credential_ids=[])

    with pytest.raises(WebAuthnError):
        verify_assertion(credential, other_challenge, key)


def test_authentication_from_wrong_origin_is_refused():
    authenticator = SoftAuthenticator(ORIGIN)
    key = register(authenticator)
    authenticator.origin = "https://evil.example"
    credential, challenge = assertion_for(authenticator, key)

    with pytest.raises(WebAuthnError):
        verify_assertion(credential, challenge, key)


def test_tampered_signature_is_refused():
    authenticator = SoftAuthenticator(ORIGIN)
    key = register(authenticator)
    credential, challenge = assertion_for(authenticator, key)
    signature = bytearray(b64url_decode(credential["response"]["signature"]))
    signature[-1] ^= 0x01
    credential["response"]["signature"] = b64url_encode(bytes(signature))

    with pytest.raises(WebAuthnError):
        verify_assertion(credential, challenge, key)


def test_assertion_signed_by_another_key_is_refused():
    authenticator = SoftAuthenticator(ORIGIN)
    key = register(authenticator)
    other_key = register(SoftAuthenticator(ORIGIN))
    credential, challenge = assertion_for(authenticator, key)

    with pytest.raises(WebAuthnError):
        verify_assertion(credential, challenge, key, public_key=other_key.public_key)


def test_sign_count_that_does_not_increase_is_refused():
    authenticator = SoftAuthenticator(ORIGIN)
    key = register(authenticator)
    older, older_challenge = assertion_for(authenticator, key)
    newer, newer_challenge = assertion_for(authenticator, key)
    stored_count = verify_assertion(newer, newer_challenge, key)

    with pytest.raises(WebAuthnError):
        verify_assertion(older, older_challenge, key, sign_count=stored_count)
    with pytest.raises(WebAuthnError):
        verify_assertion(newer, newer_challenge, key, sign_count=stored_count)


def test_corrupt_stored_public_key_is_refused():
    authenticator = SoftAuthenticator(ORIGIN)
    key = register(authenticator)
    credential, challenge = assertion_for(authenticator, key)

    with pytest.raises(WebAuthnError):
        verify_assertion(credential, challenge, key, public_key=b"\xa1\x01\x02")


def _without(path: tuple[str, ...]):
    def mutate(credential: dict) -> None:
        *parents, leaf = path
        target = credential
        for name in parents:
            target = target[name]
        del target[leaf]

    return mutate


def _set(path: tuple[str, ...], value):
    def mutate(credential: dict) -> None:
        *parents, leaf = path
        target = credential
        for name in parents:
            target = target[name]
        target[leaf] = value

    return mutate


COMMON_MALFORMATIONS = {
    "missing id": _without(("id",)),
    "missing rawId": _without(("rawId",)),
    "missing type": _without(("type",)),
    "missing response": _without(("response",)),
    "missing clientDataJSON": _without(("response", "clientDataJSON")),
    "id is a number": _set(("id",), 42),
    "rawId is a list": _set(("rawId",), ["a"]),
    "type is wrong": _set(("type",), "password"),
    "response is a string": _set(("response",), "nope"),
    "clientDataJSON is None": _set(("response", "clientDataJSON"), None),
    "clientDataJSON is garbage base64": _set(("response", "clientDataJSON"), "!!not*base64!!"),
    "clientDataJSON has impossible length": _set(("response", "clientDataJSON"), "abcde"),
    "clientDataJSON is not JSON": _set(("response", "clientDataJSON"), b64url_encode(b"{nope")),
    "clientDataJSON is a JSON list": _set(("response", "clientDataJSON"), b64url_encode(b"[]")),
    "rawId differs from id": _set(("rawId",), b64url_encode(b"another id")),
    "empty id": _set(("id",), ""),
}

REGISTRATION_MALFORMATIONS = {
    **COMMON_MALFORMATIONS,
    "missing attestationObject": _without(("response", "attestationObject")),
    "attestationObject is a dict": _set(("response", "attestationObject"), {}),
    "attestationObject is garbage base64": _set(("response", "attestationObject"), "%%%"),
    "attestationObject is not CBOR": _set(
        ("response", "attestationObject"), b64url_encode(b"\xff\xfe\xfd")
    ),
    "attestationObject is a CBOR number": _set(
        ("response", "attestationObject"), b64url_encode(b"\x01")
    ),
}

AUTHENTICATION_MALFORMATIONS = {
    **COMMON_MALFORMATIONS,
    "missing authenticatorData": _without(("response", "authenticatorData")),
    "missing signature": _without(("response", "signature")),
    "signature is a number": _set(("response", "signature"), 7),
    "signature is garbage base64": _set(("response", "signature"), "sig nature!"),
    "authenticatorData too short": _set(("response", "authenticatorData"), b64url_encode(b"x")),
    "userHandle is a number": _set(("response", "userHandle"), 12),
    "userHandle is garbage base64": _set(("response", "userHandle"), "***"),
}


@pytest.mark.parametrize("not_a_dict", [None, "credential", 17, [], b"{}"])
def test_non_object_credentials_are_refused(not_a_dict):
    with pytest.raises(WebAuthnError):
        verify_registration(
            credential=not_a_dict, expected_challenge=b"x" * 32, rp_id=RP_ID, origin=ORIGIN
        )
    with pytest.raises(WebAuthnError):
        verify_authentication(
            credential=not_a_dict,
            expected_challenge=b"x" * 32,
            rp_id=RP_ID,
            origin=ORIGIN,
            public_key=b"",
            sign_count=0,
        )


@pytest.mark.parametrize("mutate", REGISTRATION_MALFORMATIONS.values(), ids=REGISTRATION_MALFORMATIONS)
def test_malformed_registration_is_refused(mutate):
    authenticator = SoftAuthenticator(ORIGIN)
    options, challenge = new_registration_options()
    credential = copy.deepcopy(authenticator.create(options))
    mutate(credential)

    with pytest.raises(WebAuthnError):
        verify_registration(
            credential=credential, expected_challenge=challenge, rp_id=RP_ID, origin=ORIGIN
        )


@pytest.mark.parametrize(
    "mutate", AUTHENTICATION_MALFORMATIONS.values(), ids=AUTHENTICATION_MALFORMATIONS
)
def test_malformed_assertion_is_refused(mutate):
    authenticator = SoftAuthenticator(ORIGIN)
    key = register(authenticator)
    credential, challenge = assertion_for(authenticator, key)
    mutate(credential)

    with pytest.raises(WebAuthnError):
        verify_assertion(credential, challenge, key)


def test_soft_authenticator_refuses_excluded_and_unknown_credentials():
    authenticator = SoftAuthenticator(ORIGIN)
    key = register(authenticator)
    options, _ = new_registration_options(exclude=[key.credential_id])
    with pytest.raises(ValueError):
        authenticator.create(options)

    options, _ = authentication_options(rp_id=RP_ID, allow_credential_ids=[b"unknown"])
    with pytest.raises(LookupError):
        authenticator.get(options)


def _reencode_attestation(credential: dict, change_auth_data) -> None:
    attestation = cbor2.loads(b64url_decode(credential["response"]["attestationObject"]))
    attestation["authData"] = change_auth_data(attestation["authData"])
    credential["response"]["attestationObject"] = b64url_encode(cbor2.dumps(attestation))


def test_registration_whose_attested_id_differs_from_raw_id_is_refused():
    authenticator = SoftAuthenticator(ORIGIN)
    options, challenge = new_registration_options()
    credential = authenticator.create(options)
    # The credential id starts after rpIdHash(32) flags(1) counter(4) aaguid(16) length(2).
    _reencode_attestation(credential, lambda data: data[:55] + bytes([data[55] ^ 1]) + data[56:])

    with pytest.raises(WebAuthnError):
        verify_registration(
            credential=credential, expected_challenge=challenge, rp_id=RP_ID, origin=ORIGIN
        )


def test_registration_with_public_key_off_the_curve_is_refused():
    authenticator = SoftAuthenticator(ORIGIN)
    options, challenge = new_registration_options()
    credential = authenticator.create(options)
    # The COSE key ends with the 32-byte y coordinate.
    _reencode_attestation(credential, lambda data: data[:-1] + bytes([data[-1] ^ 1]))

    with pytest.raises(WebAuthnError):
        verify_registration(
            credential=credential, expected_challenge=challenge, rp_id=RP_ID, origin=ORIGIN
        )
