"""The Gates dashboard in a real browser: `keras-gates board` serving logs
of `keras-gates inspect` and of a `fit`, driven in Debian's Chromium by
Playwright. One model has weights set by hand so that input-gate unit 0
opens on the token "a" and nowhere else."""

import json
import re

import keras
import numpy as np
import pytest
from board import (
    api_of,
    board_server,
    chromium_browser,
    fit_logged,
    watched_page,
    write_layer,
)
from conftest import tf_only
from playwright.sync_api import expect

import keras_gates_cli
from tensorboard_plugin_gates import metadata

pytestmark = tf_only  # GateMonitor writes with TensorFlow

XSS = "<img src=x onerror=alert(1)>"
VOCABULARY = ["<pad>", "a", "b", "c", " ", "\n", XSS]
A, STEPS, UNITS = 1, 16, 4
A_STEPS = (5, 11)  # where sequence 0 has an "a"
VISIBLE = {" ": "\u2423", "\n": "\u23ce"}  # whitespace tokens as shown
FRAME = 'iframe[src="data/plugin_entry.html?name=gates"]'


def planted_model(path):
    """Embedding (one-hot) -> stock LSTM whose input-gate unit 0 is open
    (sigmoid(8)) exactly on "a" and shut (sigmoid(-8)) on every other
    token; its other units stay between 0.17 and 0.83."""
    rng = np.random.default_rng(0)
    size = len(VOCABULARY)
    inputs = keras.Input((STEPS,), dtype="int32")
    embed = keras.layers.Embedding(size, size, mask_zero=True)
    lstm = keras.layers.LSTM(UNITS, return_sequences=True, name="lstm")
    model = keras.Model(
        inputs, keras.layers.Dense(1)(lstm(embed(inputs))), name="planted"
    )
    embed.set_weights([np.eye(size, dtype="float32")])
    kernel = rng.uniform(-0.4, 0.4, (size, 4 * UNITS))
    kernel[:, 0] = -8.0
    kernel[A, 0] = 8.0
    recurrent = rng.uniform(-0.3, 0.3, (UNITS, 4 * UNITS))
    recurrent[:, 0] = 0.0
    lstm.set_weights([kernel, recurrent, np.zeros(4 * UNITS)])
    model.save(path)


def token_ids():
    rng = np.random.default_rng(1)
    ids = rng.integers(2, len(VOCABULARY) - 1, (4, STEPS))
    ids[0, list(A_STEPS)] = A
    ids[0, 8] = VOCABULARY.index(XSS)
    ids[2, -3:] = 0  # padding: masked steps
    return ids


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """`keras-gates board` on logs of `inspect` (run planted/train) and
    of a fit (fit/train, fit/validation); yields (page URL, api(route,
    **query) -> JSON from the same server)."""
    logdir = tmp_path_factory.mktemp("board_browser")
    planted_model(logdir / "planted.keras")
    np.save(logdir / "ids.npy", token_ids())
    (logdir / "vocabulary.json").write_text(json.dumps(VOCABULARY))
    status = keras_gates_cli.main(
        [
            "inspect",
            str(logdir / "planted.keras"),
            "--data",
            str(logdir / "ids.npy"),
            "--vocabulary",
            str(logdir / "vocabulary.json"),
            "--logdir",
            str(logdir / "logs" / "planted"),
        ]
    )
    assert status == 0
    fit_logged(logdir / "logs" / "fit", probe=6, shown=2)
    with board_server(logdir / "logs") as url:
        yield url, api_of(url)


@pytest.fixture(scope="module")
def browser():
    with chromium_browser() as launched:
        yield launched


@pytest.fixture
def dashboard(served, browser):
    """The Gates tab open on the planted LSTM's input gate; yields (page,
    frame, api, problems), `problems` collecting console errors, page
    errors and dialogs (an alert would mean injected HTML ran)."""
    url, api = served
    page, problems = watched_page(browser, 1400, 1800)
    page.goto(url)
    expect(page.get_by_role("tab", name="Gates")).to_be_visible()
    frame = page.frame_locator(FRAME)
    frame.locator(".heatmap canvas").first.wait_for()
    frame.locator("select[name=run]").select_option("planted/train")
    frame.locator("select[name=gate]").select_option("input")
    expect(frame.locator(".heatmap-figure figcaption")).to_have_text(
        "input of lstm, probe sequence 0, epoch 0"
    )
    yield page, frame, api, problems
    page.close()
    assert problems == []


def test_runs_layers_and_epochs_can_be_chosen(dashboard):
    _, frame, _, _ = dashboard
    expect(frame.locator("select[name=run] option")).to_have_text(
        ["fit/train", "planted/train"]
    )
    frame.locator("select[name=run]").select_option("fit/train")
    expect(frame.locator("select[name=layer] option")).to_have_text(
        ["bi/forward (LSTM)", "bi/backward (LSTM)", "gru (GRU)"]
    )
    frame.locator("select[name=layer]").select_option("bi/backward")
    caption = frame.locator(".heatmap-figure figcaption")
    # The gate and epoch chosen before are kept where they exist.
    expect(caption).to_have_text(
        "input of bi/backward, probe sequence 0, epoch 0"
    )
    frame.locator("input[name=epoch]").fill("1")
    expect(caption).to_have_text(
        "input of bi/backward, probe sequence 0, epoch 1"
    )
    expect(frame.locator(".epoch-value")).to_have_text("1")
    frame.locator("select[name=compare]").select_option("0")
    expect(caption).to_have_count(2)
    # Clicking a gate of the drawn cell selects it everywhere.
    frame.locator("svg.cell g.gate[data-gate=output]").click()
    expect(caption.first).to_have_text(
        "output of bi/backward, probe sequence 0, epoch 1"
    )
    expect(caption.nth(1)).to_have_text(
        "output of bi/backward, probe sequence 0, epoch 0"
    )
    frame.locator("button.toggle-dimensions").click()
    table = frame.locator("table.dimensions")
    expect(table).to_be_visible()
    expect(table.locator("tr.total td").nth(2)).to_have_text("200")


def test_hovering_a_cell_shows_the_value_the_api_gives(dashboard):
    _, frame, api, _ = dashboard
    frame.locator("select[name=sequence]").select_option("2")
    data = api(
        "values",
        run="planted/train",
        layer="lstm",
        gate="input",
        epoch=0,
        sequence=2,
    )
    canvas = frame.locator(".heatmap canvas")
    width = float(canvas.get_attribute("data-cell-width"))
    height = float(canvas.get_attribute("data-cell-height"))
    tooltip = frame.locator(".tooltip")
    for unit, step in ((0, 0), (2, 7), (3, 12)):
        canvas.hover(
            position={"x": (step + 0.5) * width, "y": (unit + 0.5) * height}
        )
        expect(tooltip).to_be_visible()
        text = tooltip.inner_text()
        assert f"unit {unit}, step {step}" in text
        shown = float(re.search(r"value (-?\d+\.\d+)", text).group(1))
        assert shown == pytest.approx(data["values"][unit][step], abs=5e-5)
        token = VOCABULARY[token_ids()[2, step]]
        assert f"token: {VISIBLE.get(token, token)}" in text
    canvas.hover(position={"x": (STEPS - 1.5) * width, "y": height / 2})
    expect(tooltip).to_contain_text("masked step")


def test_clicking_a_unit_selects_it_in_every_view(dashboard):
    _, frame, _, _ = dashboard
    canvas = frame.locator(".heatmap canvas")
    height = float(canvas.get_attribute("data-cell-height"))
    canvas.click(position={"x": 3, "y": 2.5 * height})  # unit 2
    expect(frame.locator(".unit-value")).to_have_text("unit 2")
    expect(frame.locator("polyline.trace.selected")).to_have_attribute(
        "data-unit", "2"
    )
    expect(frame.locator("circle.dot.selected")).to_have_count(3)
    expect(frame.locator("svg.unit-histograms")).to_be_visible()
    # ... and clicking a dot of the saturation map selects its unit.
    dot = frame.locator(
        "svg.scatter[data-gate=forget] circle.dot[data-unit='1']"
    )
    expect(dot).to_have_count(1)
    expect(dot).not_to_have_class(re.compile(r"\bselected\b"))
    dot.dispatch_event("click")
    expect(dot).to_have_class(re.compile(r"\bselected\b"))
    expect(frame.locator("polyline.trace.selected")).to_have_attribute(
        "data-unit", "1"
    )


def test_pattern_search_finds_the_unit_planted_on_a(dashboard):
    _, frame, _, _ = dashboard
    form = frame.locator("form.pattern")
    form.locator("input[name=threshold]").fill("0.9")
    form.locator("input[name=start]").fill(str(A_STEPS[0]))
    form.locator("input[name=end]").fill(str(A_STEPS[0]))
    form.locator("button").click()
    results = frame.locator("ol.results button.unit-link")
    expect(results).to_have_count(1)
    expect(results.first).to_have_text("unit 0")
    expect(frame.locator("polyline.trace.hit")).to_have_attribute(
        "data-unit", "0"
    )
    results.first.click()
    expect(frame.locator(".unit-value")).to_have_text("unit 0")


def test_tokens_are_text_never_html(dashboard):
    _, frame, _, problems = dashboard
    tokens = frame.locator("svg.axes text.token")
    expect(tokens).to_have_count(STEPS)
    assert tokens.nth(8).text_content() == XSS[:11] + "\u2026"
    canvas = frame.locator(".heatmap canvas")
    width = float(canvas.get_attribute("data-cell-width"))
    canvas.hover(position={"x": 8.5 * width, "y": 1})
    expect(frame.locator(".tooltip")).to_contain_text(f"token: {XSS}")
    assert frame.locator("img").count() == 0
    assert problems == []


def test_attribution_row_follows_the_selected_unit(dashboard):
    """The fit run was logged with attribution="saliency": a row under the
    heatmap shows the model output's attribution, and the selected unit's
    when GateMonitor explained that unit."""
    _, frame, api, _ = dashboard
    frame.locator("select[name=run]").select_option("fit/train")
    frame.locator("select[name=layer]").select_option("gru")
    frame.locator("select[name=gate]").select_option("update")
    data = api(
        "values",
        run="fit/train",
        layer="gru",
        gate="update",
        epoch=0,
        sequence=0,
    )
    logged = data["attribution"]
    label = frame.locator(".attribution-label")
    epoch = r" \(epoch \d+\)$"  # the epoch it was logged at
    expect(label).to_have_text(
        re.compile(r'row "attr\.": saliency of the model output' + epoch)
    )
    cells = frame.locator("svg.axes rect.attribution")
    expect(cells).to_have_count(data["steps"])
    (unit,) = [int(u) for u in logged["units"]]
    canvas = frame.locator(".heatmap canvas")
    height = float(canvas.get_attribute("data-cell-height"))
    width = float(canvas.get_attribute("data-cell-width"))
    canvas.click(position={"x": width / 2, "y": (unit + 0.5) * height})
    expect(label).to_have_text(
        re.compile(f'row "attr\\.": saliency of update unit {unit}' + epoch)
    )
    canvas.hover(position={"x": 2.5 * width, "y": 0.5 * height})
    tooltip = frame.locator(".tooltip")
    expect(tooltip).to_contain_text(f"saliency of update unit {unit} (epoch ")
    shown = float(
        re.search(
            r"unit \d+ \(epoch \d+\): (-?[\d.e-]+)", tooltip.inner_text()
        ).group(1)
    )
    expected = logged["units"][str(unit)][2]
    assert shown == pytest.approx(expected, rel=1e-2, abs=1e-6)


def test_logs_of_a_newer_format_get_a_notice_not_a_dashboard(tmp_path, browser):
    newer = metadata.VERSION + 1
    content = json.dumps({"version": newer, "kind": "layer"}).encode()
    write_layer(tmp_path / "newer", content)
    with board_server(tmp_path) as url:
        page = browser.new_page(viewport={"width": 1000, "height": 600})
        problems = []
        page.on("pageerror", lambda e: problems.append(str(e)))
        page.on(
            "console",
            lambda m: (
                problems.append(m.text)
                # The browser's own line about the 409 answer is no problem.
                if m.type == "error" and "status of 409" not in m.text
                else None
            ),
        )
        page.goto(url)
        notice = page.frame_locator(FRAME).locator(".notice[role=alert]")
        expect(notice.locator("h2")).to_have_text(
            "The Gates dashboard cannot read these logs"
        )
        expect(notice.locator("p.error")).to_have_text(
            f"run 'newer', tag 'lstm/_gates/layer': written by a newer "
            f"keras-gates (Gates format version {newer}); this dashboard "
            f"reads version {metadata.VERSION}: upgrade keras-gates"
        )
        expect(page.frame_locator(FRAME).locator("select")).to_have_count(0)
        page.close()
    assert problems == []
