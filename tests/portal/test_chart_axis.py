"""The device chart in a real browser: a time axis that names each day once, German decimal
commas on the value axis and in the legend, and a correctly counted caption."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from typing import Any

from playwright.sync_api import Page, expect

from leitstand.telemetry.store import Point, write_points
from tests.helpers.world import World

GERMAN_DATE = re.compile(r"\d{2}\.\d{2}\.")


def _seed(app: Any, device_id: int, count: int) -> None:
    end = datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(minutes=1)
    points = [Point(device_id, "motor_temperature", end - timedelta(minutes=15) * n, 20.1 + (n % 9) / 10, "Europe/Berlin")
              for n in range(count)]
    with app.state.engine.begin() as connection:
        write_points(connection, points)


def _open_chart(page: Page, world: World, login) -> Any:  # type: ignore[no-untyped-def]
    login(page, "admin@alpha.test")
    page.goto(f"/devices/{world.alpha.barrier.id}")
    page.locator("[data-chart-metric]").select_option("motor_temperature")
    chart = page.locator("[data-device-chart]")
    expect(chart).to_have_attribute("data-state", "ready")
    return chart


def test_the_time_axis_names_each_day_once_and_values_have_decimal_commas(
    page: Page, portal_url: str, world: World, app: Any, login,  # type: ignore[no-untyped-def]
):
    _seed(app, world.alpha.barrier.id, count=3 * 96)
    chart = _open_chart(page, world, login)

    for window in ("24h", "7d"):
        page.locator(f'button[data-window="{window}"]').click()
        expect(chart).to_have_attribute("data-shown-window", window)
        expect(chart).to_have_attribute("data-state", "ready")
        labels = json.loads(chart.get_attribute("data-time-labels") or "[]")
        assert len(labels) >= 3, labels
        dated = [label for label in labels if GERMAN_DATE.match(label)]
        days = [GERMAN_DATE.match(label).group() for label in dated]  # type: ignore[union-attr]
        assert GERMAN_DATE.match(labels[0]), labels  # the first tick says which day it is
        assert len(days) == len(set(days)), labels  # and no day is named twice
        if window == "24h":
            assert len(dated) <= 2 < len(labels), labels  # a day crosses midnight at most once
            assert all(re.fullmatch(r"\d{2}:\d{2}", label) for label in labels if label not in dated), labels

    values = json.loads(chart.get_attribute("data-value-labels") or "[]")
    assert any("," in label for label in values) and not any("." in label for label in values), values

    box = chart.locator("canvas").first.bounding_box()
    assert box is not None
    page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    legend_value = page.locator(".u-legend .u-series").nth(1).locator(".u-value")
    expect(legend_value).to_have_text(re.compile(r"^\d+,\d+ °C$"))


def test_one_value_is_counted_as_one_wert_not_one_werte(
    page: Page, portal_url: str, world: World, app: Any, login,  # type: ignore[no-untyped-def]
):
    _seed(app, world.alpha.barrier.id, count=1)
    _open_chart(page, world, login)
    caption = page.locator("[data-chart-caption]")
    expect(caption).to_have_text(re.compile(r"^1 Wert ·"))
    assert "Werte" not in caption.inner_text()
