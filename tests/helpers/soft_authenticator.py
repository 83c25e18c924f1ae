"""A software WebAuthn authenticator (ES256, "none" attestation) for tests.

It plays both the authenticator and the browser: it takes the JSON options a
server sends and returns the JSON credential a browser would post back.
"""

import base64
import hashlib
import json
import os
import struct
from dataclasses import dataclass

import cbor2
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec

ES256 = -7

# Authenticator data flag bits (WebAuthn §6.1).
FLAG_USER_PRESENT = 0x01
FLAG_USER_VERIFIED = 0x04
FLAG_ATTESTED_CREDENTIAL_DATA = 0x40

# "none" attestation carries no make/model, so the AAGUID is all zeros.
ZERO_AAGUID = bytes(16)


def b64url_encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass
class StoredCredential:
    rp_id: str
    user_handle: bytes
    private_key: ec.EllipticCurvePrivateKey
    sign_count: int = 0


class SoftAuthenticator:
    """Holds P-256 credentials and answers create/get options like a browser would.

    `origin` is what the simulated browser reports as the page origin.
    """

    def __init__(self, origin: str) -> None:
        self.origin = origin
        self.credentials: dict[bytes, StoredCredential] = {}

    def create(self, options: dict) -> dict:
        """Register a new credential for `options` (navigator.credentials.create)."""
        rp_id = options["rp"]["id"]
        algorithms = {param["alg"] for param in options["pubKeyCredParams"]}
        if ES256 not in algorithms:
            raise ValueError("relying party does not accept ES256")
        for excluded in options.get("excludeCredentials", []):
            if b64url_decode(excluded["id"]) in self.credentials:
                raise ValueError("authenticator already registered (InvalidStateError)")

        credential_id = os.urandom(32)
        credential = StoredCredential(
            rp_id=rp_id,
            user_handle=b64url_decode(options["user"]["id"]),
            private_key=ec.generate_private_key(ec.SECP256R1()),
        )
        self.credentials[credential_id] = credential

        authenticator_data = (
            self._authenticator_data_header(
                rp_id,
                FLAG_USER_PRESENT | FLAG_USER_VERIFIED | FLAG_ATTESTED_CREDENTIAL_DATA,
                credential.sign_count,
            )
            + ZERO_AAGUID
            + struct.pack(">H", len(credential_id))
            + credential_id
            + _cose_public_key(credential.private_key.public_key())
        )
        attestation_object = cbor2.dumps(
            {"fmt": "none", "attStmt": {}, "authData": authenticator_data}
        )
        client_data = self._client_data("webauthn.create", options["challenge"])
        return {
            "id": b64url_encode(credential_id),
            "rawId": b64url_encode(credential_id),
            "type": "public-key",
            "authenticatorAttachment": "cross-platform",
            "clientExtensionResults": {},
            "response": {
                "clientDataJSON": b64url_encode(client_data),
                "attestationObject": b64url_encode(attestation_object),
                "transports": ["usb"],
            },
        }

    def get(self, options: dict) -> dict:
        """Sign an assertion for `options` (navigator.credentials.get).

        Uses the first credential in allowCredentials that this authenticator
        holds for the options' RP, and increments that credential's counter.
        """
        rp_id = options["rpId"]
        credential_id = self._pick_credential(options.get("allowCredentials", []), rp_id)
        credential = self.credentials[credential_id]
        credential.sign_count += 1

        authenticator_data = self._authenticator_data_header(
            rp_id, FLAG_USER_PRESENT | FLAG_USER_VERIFIED, credential.sign_count
        )
        client_data = self._client_data("webauthn.get", options["challenge"])
        # ES256 signatures in WebAuthn are DER-encoded, which is what
        # cryptography produces.
        signature = credential.private_key.sign(
            authenticator_data + hashlib.sha256(client_data).digest(),
            ec.ECDSA(hashes.SHA256()),
        )
        return {
            "id": b64url_encode(credential_id),
            "rawId": b64url_encode(credential_id),
            "type": "public-key",
            "authenticatorAttachment": "cross-platform",
            "clientExtensionResults": {},
            "response": {
                "clientDataJSON": b64url_encode(client_data),
                "authenticatorData": b64url_encode(authenticator_data),
                "signature": b64url_encode(signature),
                "userHandle": b64url_encode(credential.user_handle),
            },
        }

    def _pick_credential(self, allow_credentials: list[dict], rp_id: str) -> bytes:
        for allowed in allow_credentials:
            credential_id = b64url_decode(allowed["id"])
            stored = self.credentials.get(credential_id)
            if stored is not None and stored.rp_id == rp_id:
                return credential_id
        raise LookupError("no allowed credential on this authenticator (NotAllowedError)")

    def _client_data(self, ceremony_type: str, challenge: str) -> bytes:
        # Browsers re-encode the challenge they decoded, so normalise it the same way.
        return json.dumps(
            {
                "type": ceremony_type,
                "challenge": b64url_encode(b64url_decode(challenge)),
                "origin": self.origin,
                "crossOrigin": False,
            }
        ).encode("utf-8")

    @staticmethod
    def _authenticator_data_header(rp_id: str, flags: int, sign_count: int) -> bytes:
        rp_id_hash = hashlib.sha256(rp_id.encode("utf-8")).digest()
        return rp_id_hash + struct.pack(">BI", flags, sign_count)


def _cose_public_key(public_key: ec.EllipticCurvePublicKey) -> bytes:
    """Encode a P-256 public key as a COSE_Key (EC2, ES256)."""
    numbers = public_key.public_numbers()
    return cbor2.dumps(
        {
            1: 2,  # kty: EC2
            3: ES256,  # alg
            -1: 1,  # crv: P-256
            -2: numbers.x.to_bytes(32, "big"),
            -3: numbers.y.to_bytes(32, "big"),
        }
    )
