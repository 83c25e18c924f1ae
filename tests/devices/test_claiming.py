"""Claiming ("activation of the connector"): proof by claim secret, binding to tenant and site,
credentials shown once, license started, and what a tenant may and may not claim."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from leitstand.audit.models import AuditEntry
from leitstand.auth.secrets import token_digest
from leitstand.clock import clock
from leitstand.devices import claiming
from leitstand.devices.models import Device, DeviceCredential, DeviceShare
from leitstand.devices.service import set_claim_secret
from leitstand.licenses.models import License, LicenseChange, LicenseStatus
from leitstand.licenses.service import term_end
from leitstand.sites.models import Site, SiteKind
from leitstand.tenancy.models import Tenant, new_path_segment

CLAIM = "/api/v1/devices/claim"
SECRET = "label-secret-0001"


def stock_device(world, owner: Tenant, serial: str = "NT-BAR-1000", secret: str = SECRET, **fields) -> Device:  # type: ignore[no-untyped-def]
    """An unclaimed device in a tenant's stock, as the maker's import leaves it."""
    device = Device(tenant_id=owner.id, type_key=fields.pop("type_key", "barrier"), serial_number=serial,
                    name=fields.pop("name", f"Schranke {serial}"), labels=[], **fields)
    set_claim_secret(device, secret)
    world.db.add(device)
    world.db.commit()
    return device


def claim_body(world, serial: str = "NT-BAR-1000", secret: str = SECRET, **fields):  # type: ignore[no-untyped-def]
    return {"serial_number": serial, "claim_secret": secret, "tenant_id": world.alpha.customer.id,
            "site_id": world.alpha.room.id, **fields}


def stored(world, device_id: int) -> Device:  # type: ignore[no-untyped-def]
    world.db.expire_all()
    device = world.db.get(Device, device_id)
    assert device is not None
    return device




# --- the happy path --------------------------------------------------------------------


def test_claim_binds_the_device_issues_credentials_and_activates_the_license(world, heard):
    device = stock_device(world, world.alpha.partner)

    response = world.as_user("alpha_operator").post(CLAIM, json=claim_body(world, name="Einfahrt Nord"))

    assert response.status_code == 201, response.text
    body = response.json()
    assert body["device"]["id"] == device.id
    assert body["device"]["tenant_id"] == world.alpha.customer.id
    assert body["device"]["site_id"] == world.alpha.room.id
    assert body["device"]["name"] == "Einfahrt Nord"
    assert body["device"]["claimed_at"] is not None
    claimed = stored(world, device.id)
    assert (claimed.tenant_id, claimed.site_id, claimed.name) == (world.alpha.customer.id, world.alpha.room.id, "Einfahrt Nord")
    assert claimed.claimed_at is not None

    today = clock.now().date()
    license_ = body["license"]
    assert license_["status"] == LicenseStatus.active
    assert license_["starts_on"] == today.isoformat()
    assert license_["ends_on"] == term_end(today, 12).isoformat()
    assert license_["auto_renew"] is True
    stored_license = world.db.scalar(select(License).where(License.device_id == device.id))
    assert stored_license.tenant_id == world.alpha.customer.id
    history = world.db.scalars(select(LicenseChange).where(LicenseChange.device_id == device.id)).all()
    assert [change.action for change in history] == ["activated"]
    assert heard == [(device.serial_number, body["credential"]["secret"])]


def test_the_device_secret_is_returned_once_and_only_its_hash_stored(world):
    device = stock_device(world, world.alpha.partner)
    api = world.as_user("alpha_operator")

    credential = api.post(CLAIM, json=claim_body(world)).json()["credential"]

    secret = credential["secret"]
    assert credential["username"] == device.serial_number
    assert len(secret) >= 43  # 256 random bits, URL-safe base64
    rows = world.db.scalars(select(DeviceCredential).where(DeviceCredential.device_id == device.id)).all()
    assert len(rows) == 1
    assert rows[0].secret_hash == token_digest(secret)
    assert rows[0].revoked_at is None
    # Nowhere again: not in the device, not in the audit log.
    assert secret not in api.get(f"/api/v1/devices/{device.id}").text
    for entry in world.db.scalars(select(AuditEntry)):
        assert secret not in str(entry.changes)
        assert rows[0].secret_hash not in str(entry.changes)


def test_a_license_prepared_by_the_maker_is_taken_over(world):
    device = stock_device(world, world.alpha.partner)
    starts = clock.now().date() + timedelta(days=400)
    world.db.add(License(device_id=device.id, tenant_id=world.alpha.partner.id, starts_on=starts,
                         ends_on=term_end(starts, 24), term_months=24, auto_renew=False))
    world.db.commit()

    body = world.as_user("alpha_operator").post(CLAIM, json=claim_body(world)).json()

    assert body["license"]["status"] == "active"
    assert body["license"]["tenant_id"] == world.alpha.customer.id
    assert body["license"]["auto_renew"] is True
    history = world.db.scalars(select(LicenseChange).where(LicenseChange.device_id == device.id)).all()
    assert [change.action for change in history] == ["activated"]
    assert history[0].before["term_months"] == 24


def test_claiming_is_audited_with_the_claimer(world):
    device = stock_device(world, world.alpha.partner)

    world.as_user("alpha_operator").post(CLAIM, json=claim_body(world))

    entries = world.db.scalars(select(AuditEntry).where(AuditEntry.actor_user_id == world.users["alpha_operator"].id)).all()
    actions = {entry.action for entry in entries}
    assert {"device.claim", "devices.update", "device_credentials.create", "licenses.create"} <= actions
    update = next(entry for entry in entries if entry.action == "devices.update")
    assert update.target_id == str(device.id)
    assert update.changes["tenant_id"] == [world.alpha.partner.id, world.alpha.customer.id]


def test_shares_of_the_previous_owner_end(world):
    device = stock_device(world, world.alpha.customer)
    world.db.add(DeviceShare(device_id=device.id, tenant_id=world.alpha.end_customer.id, owner_tenant_id=world.alpha.customer.id))
    world.db.commit()

    response = world.as_user("alpha_admin").post(CLAIM, json=claim_body(world, tenant_id=world.alpha.end_customer.id))

    assert response.status_code == 201, response.text
    assert world.db.scalars(select(DeviceShare).where(DeviceShare.device_id == device.id)).all() == []


def test_stock_of_the_root_tenant_is_claimable_by_any_tenant(world):
    device = stock_device(world, world.root)

    response = world.as_user("beta_operator").post(
        CLAIM, json=claim_body(world, tenant_id=world.beta.customer.id, site_id=world.beta.room.id))

    assert response.status_code == 201, response.text
    assert stored(world, device.id).tenant_id == world.beta.customer.id


# --- refusals ----------------------------------------------------------------------------


def test_wrong_secret_and_unknown_serial_answer_alike(world):
    device = stock_device(world, world.alpha.partner)
    api = world.as_user("alpha_operator")

    wrong = api.post(CLAIM, json=claim_body(world, secret="not-the-secret-1"))
    unknown = api.post(CLAIM, json=claim_body(world, serial="NO-SUCH-SERIAL"))

    assert wrong.status_code == unknown.status_code == 404
    assert wrong.json() == unknown.json()
    assert wrong.headers["content-type"].startswith("application/problem+json")
    untouched = stored(world, device.id)
    assert untouched.claimed_at is None and untouched.tenant_id == world.alpha.partner.id
    failures = world.db.scalars(select(AuditEntry).where(AuditEntry.action == "device.claim")).all()
    assert [entry.outcome for entry in failures] == ["failure", "failure"]


def test_wrong_secrets_are_throttled_per_serial_and_claiming_tenant(world):
    clock.freeze()
    stock_device(world, world.alpha.partner)
    stock_device(world, world.alpha.partner, serial="NT-BAR-2000")
    api = world.as_user("alpha_operator")
    for _ in range(world.app.state.settings.claim_slowdown_after):
        assert api.post(CLAIM, json=claim_body(world, secret="not-the-secret-1")).status_code == 404

    throttled = api.post(CLAIM, json=claim_body(world))  # even the right secret waits
    other_serial = api.post(CLAIM, json=claim_body(world, serial="NT-BAR-2000"))

    assert throttled.status_code == 429
    assert int(throttled.headers["retry-after"]) >= 1
    assert other_serial.status_code == 201, other_serial.text
    clock.advance(timedelta(seconds=3))
    assert api.post(CLAIM, json=claim_body(world)).status_code == 201


def beta_claims(world, serial: str = "NT-BAR-1000", secret: str = "not-the-secret-1"):  # type: ignore[no-untyped-def]
    """Beta's operator tries a serial number into Beta's own tenant and site."""
    body = {"serial_number": serial, "claim_secret": secret, "tenant_id": world.beta.customer.id,
            "site_id": world.beta.room.id}
    return world.as_user("beta_operator").post(CLAIM, json=body)


def test_wrong_secrets_from_another_tenant_never_hold_up_the_owner(world):
    clock.freeze()
    stock_device(world, world.alpha.partner)
    for _ in range(10):
        guess = beta_claims(world)
        if guess.status_code == 429:  # a guesser that honours Retry-After
            clock.advance(timedelta(seconds=int(guess.headers["retry-after"])))
            guess = beta_claims(world)
        assert guess.status_code == 404

    assert beta_claims(world).status_code == 429
    claimed = world.as_user("alpha_operator").post(CLAIM, json=claim_body(world))
    assert claimed.status_code == 201, claimed.text


def test_a_tenant_guessing_at_many_serials_waits_for_every_serial(world):
    clock.freeze()
    stock_device(world, world.alpha.partner)
    stock_device(world, world.beta.partner, serial="NT-BAR-3000")
    for n in range(world.app.state.settings.claim_tenant_slowdown_after):
        assert beta_claims(world, serial=f"NT-GUESS-{n:04d}").status_code == 404

    refused = beta_claims(world, serial="NT-BAR-3000", secret=SECRET)

    assert refused.status_code == 429
    assert int(refused.headers["retry-after"]) >= 1
    assert world.as_user("alpha_operator").post(CLAIM, json=claim_body(world)).status_code == 201
    clock.advance(timedelta(seconds=int(refused.headers["retry-after"])))
    assert beta_claims(world, serial="NT-BAR-3000", secret=SECRET).status_code == 201


def test_an_already_claimed_device_is_a_conflict(world):
    device = stock_device(world, world.alpha.partner)
    api = world.as_user("alpha_operator")
    first = api.post(CLAIM, json=claim_body(world)).json()

    again = api.post(CLAIM, json=claim_body(world))
    wrong_secret = api.post(CLAIM, json=claim_body(world, secret="not-the-secret-1"))

    assert again.status_code == 409
    assert wrong_secret.status_code == 404  # without the secret, not even "claimed" is said
    credentials = world.db.scalars(select(DeviceCredential).where(DeviceCredential.device_id == device.id)).all()
    assert [c.secret_hash for c in credentials] == [token_digest(first["credential"]["secret"])]


def test_a_decommissioned_device_cannot_be_claimed(world):
    device = stock_device(world, world.alpha.partner, decommissioned_at=clock.now())

    assert world.as_user("alpha_operator").post(CLAIM, json=claim_body(world)).status_code == 409
    assert stored(world, device.id).claimed_at is None


def test_the_target_tenant_must_be_visible_to_the_claimer(world):
    device = stock_device(world, world.alpha.partner)

    # Beta holds the right secret but aims at Alpha's tenant and site.
    response = world.as_user("beta_admin").post(CLAIM, json=claim_body(world))

    assert response.status_code == 404
    assert stored(world, device.id).claimed_at is None


def test_the_target_site_must_be_visible_to_the_claimer(world):
    device = stock_device(world, world.alpha.partner)

    response = world.as_user("alpha_operator").post(CLAIM, json=claim_body(world, site_id=world.beta.room.id))

    assert response.status_code == 404
    assert stored(world, device.id).claimed_at is None


def test_a_site_of_another_organisation_is_refused(world):
    device = stock_device(world, world.alpha.partner)
    end_site = Site(tenant_id=world.alpha.end_customer.id, kind=SiteKind.site, name="Kanzlei",
                    path=f"/{new_path_segment()}/", city="Hamburg")
    world.db.add(end_site)
    world.db.commit()

    # The end customer's office is visible to Alpha's partner admin, but does not serve the customer.
    response = world.as_user("alpha_admin").post(CLAIM, json=claim_body(world, site_id=end_site.id))

    assert response.status_code == 422, response.text
    assert stored(world, device.id).claimed_at is None


def test_stock_moves_only_down_the_tenant_tree(world):
    """A label of Alpha's stock in Beta's hands cannot be claimed into Beta's tree."""
    device = stock_device(world, world.alpha.partner)

    response = world.as_user("beta_operator").post(
        CLAIM, json=claim_body(world, tenant_id=world.beta.customer.id, site_id=world.beta.room.id))

    assert response.status_code == 404
    untouched = stored(world, device.id)
    assert untouched.tenant_id == world.alpha.partner.id and untouched.claimed_at is None
    assert world.db.scalars(select(DeviceCredential).where(DeviceCredential.device_id == device.id)).all() == []


def test_claiming_needs_device_write(world):
    stock_device(world, world.alpha.partner)

    response = world.as_user("alpha_reader").post(CLAIM, json=claim_body(world))

    assert response.status_code == 403


def test_a_malformed_claim_secret_is_a_validation_error(world):
    response = world.as_user("alpha_operator").post(CLAIM, json=claim_body(world, secret="short"))

    assert response.status_code == 422


def test_a_failing_listener_does_not_undo_the_claim(app, world):
    device = stock_device(world, world.alpha.partner)

    def broken(serial: str, secret: str | None) -> None:
        raise RuntimeError("broker down")

    claiming.CREDENTIAL_CHANGES.listeners(app.state.session_factory).subscribe(broken)
    response = world.as_user("alpha_operator").post(CLAIM, json=claim_body(world))

    assert response.status_code == 201
    assert stored(world, device.id).claimed_at is not None


def test_of_two_racing_claims_exactly_one_wins(world):
    import threading

    from fastapi.testclient import TestClient

    device = stock_device(world, world.alpha.partner)
    token = world.token_for("alpha_operator")
    start = threading.Barrier(2)
    statuses: list[int] = []

    def claim() -> None:
        with TestClient(world.app, base_url="http://localhost:8000") as client:
            start.wait()
            response = client.post(CLAIM, json=claim_body(world), headers={"Authorization": f"Bearer {token}"})
            statuses.append(response.status_code)

    threads = [threading.Thread(target=claim) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sorted(statuses) == [201, 409]
    assert len(world.db.scalars(select(DeviceCredential).where(DeviceCredential.device_id == device.id)).all()) == 1
