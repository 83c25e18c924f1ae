from tests.helpers.world import ALPHA_MARK, BETA_MARK


def test_operator_sees_own_devices_only(world):
    response = world.as_user("alpha_operator").get("/api/v1/devices")
    assert response.status_code == 200
    names = [item["name"] for item in response.json()["items"]]
    assert names and all(ALPHA_MARK in name for name in names)
    assert BETA_MARK not in response.text
