"""Importance in the Gates dashboard, in a real browser: `keras-gates board`
serving the logs of a fit with `GateMonitor(importance=True)`, driven in
Debian's Chromium by Playwright. What the page shows is compared with what
the server's routes answer (checked against NumPy in test_importance.py).
"""

import json
import urllib.parse
import urllib.request

import keras
import numpy as np
import pytest
from board import board_server, chromium
from conftest import tf_only
from playwright.sync_api import expect, sync_playwright

import keras_gates

pytestmark = tf_only  # GateMonitor writes with TensorFlow

FRAME = 'iframe[src="data/plugin_entry.html?name=gates"]'
STEPS, EPOCHS = 8, 2


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    logdir = tmp_path_factory.mktemp("importance_browser")
    rng = np.random.default_rng(0)
    x = rng.standard_normal((32, STEPS, 3)).astype("float32")
    y = rng.standard_normal((32, 1)).astype("float32")
    inputs = keras.Input((STEPS, 3))
    h = keras.layers.LSTM(6, name="lstm")(inputs)
    model = keras.Model(inputs, keras.layers.Dense(1)(h))
    model.compile(optimizer="adam", loss="mse")
    monitor = keras_gates.GateMonitor(
        logdir / "fit",
        probe_data=(x[:8], y[:8]),
        importance=True,
        figures=False,
    )
    model.fit(x, y, epochs=EPOCHS, verbose=0, callbacks=[monitor])
    with board_server(logdir) as url:
        base = url.split("#")[0] + "data/plugin/gates/"

        def api(route, **query):
            address = f"{base}{route}?{urllib.parse.urlencode(query)}"
            with urllib.request.urlopen(address) as response:
                return json.load(response)

        yield url, api


def test_saturation_map_and_unit_show_importance(served):
    url, api = served
    last = EPOCHS - 1
    query = dict(run="fit/train", layer="lstm", epoch=last)
    forget = [
        u["importance"] for u in api("units", gate="forget", **query)["units"]
    ]
    assert None not in forget
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium())
        page = browser.new_page(viewport={"width": 1400, "height": 1800})
        problems = []
        page.on("pageerror", lambda e: problems.append(str(e)))
        page.on(
            "console",
            lambda m: problems.append(m.text) if m.type == "error" else None,
        )
        page.goto(url)
        frame = page.frame_locator(FRAME)
        dots = frame.locator('svg.scatter[data-gate="forget"] circle.dot')
        expect(dots).to_have_count(len(forget))
        expect(frame.locator(".importance-legend")).to_contain_text(
            "change of the loss"
        )
        # Each dot carries its unit's importance; the area follows it.
        shown, radii = {}, {}
        for i in range(len(forget)):
            dot = dots.nth(i)
            unit = int(dot.get_attribute("data-unit"))
            shown[unit] = float(dot.get_attribute("data-importance"))
            radii[unit] = float(dot.get_attribute("r"))
        np.testing.assert_allclose(
            [shown[u] for u in range(len(forget))], forget, rtol=1e-6
        )
        ranked = sorted(range(len(forget)), key=lambda u: forget[u])
        assert [radii[u] for u in ranked] == sorted(radii.values())
        assert radii[ranked[-1]] > radii[ranked[0]]
        top = ranked[-1]
        # Selecting the most important unit: its importance over epochs.
        dots.and_(frame.locator(f'[data-unit="{top}"]')).dispatch_event("click")
        bars = frame.locator("svg.unit-importance rect.importance-bar")
        expect(bars).to_have_count(EPOCHS)
        over = api(
            "unit", run="fit/train", layer="lstm", gate="forget", unit=top
        )
        for i, row in enumerate(over["epochs"]):
            assert float(bars.nth(i).get_attribute("data-importance")) == (
                pytest.approx(row["importance"], rel=1e-6)
            )
        assert over["epochs"][-1]["importance"] == pytest.approx(forget[top])
        # The pattern search's results say each unit's importance: every
        # forget unit is above 0 at every step.
        frame.locator("input[name=threshold]").fill("0")
        frame.locator("input[name=start]").fill("0")
        frame.locator("input[name=end]").fill(str(STEPS - 1))
        frame.locator("form.pattern button").click()
        results = frame.locator("ol.results li")
        expect(results).to_have_count(len(forget))
        expect(results.first).to_contain_text("importance ")
        browser.close()
    assert problems == []
