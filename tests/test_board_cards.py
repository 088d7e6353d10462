"""Unit cards: `GateMonitor(annotations=...)` on a model whose units were
planted by hand (tests/planted.py), read back through the `units` route of
a real `keras-gates board`, and the cards in Debian's Chromium: sorting,
selection across views, tokens that stay text."""

import keras
import numpy as np
import pytest
from board import api_of, board_server, chromium_browser, watched_page
from conftest import tf_only
from planted import VOCABULARY, A, planted_model, token_ids
from playwright.sync_api import expect

import keras_gates

pytestmark = tf_only  # GateMonitor writes with TensorFlow

STEPS, PROBE = 16, 8
XSS = VOCABULARY.index("<img src=x onerror=alert(1)>")
FRAME = 'iframe[src="data/plugin_entry.html?name=gates"]'


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """Two epochs of `fit` with annotations "a" (an array) and "b" (a
    function); yields (page URL, api(route, **query), model, probe)."""
    logdir = tmp_path_factory.mktemp("cards")
    keras.utils.set_random_seed(0)
    model = planted_model(STEPS)
    # The one-hot embedding stays put, and so the planted units; the other
    # units move a little, so that their means change between epochs.
    model.layers[1].trainable = False
    model.compile(optimizer=keras.optimizers.SGD(0.01), loss="mse")
    x = token_ids(32, STEPS)
    x[0, 9], x[0, 3] = XSS, A
    probe = x[:PROBE]
    y = np.random.default_rng(2).normal(size=(32, STEPS, 1))
    monitor = keras_gates.GateMonitor(
        logdir,
        probe_data=probe,
        vocabulary=VOCABULARY,
        figures=False,
        annotations={"a": probe == A, "b": lambda ids: ids == 2},
    )
    model.fit(x, y, epochs=2, verbose=0, callbacks=[monitor])
    with board_server(logdir) as url:
        yield url, api_of(url), model, probe


def test_the_units_route_serves_each_units_match(served):
    _, api, model, probe = served
    answer = api("units", run="train", layer="lstm", gate="input", epoch=1)
    assert answer["annotations"] == ["a", "b"]
    for name, marks in (("a", probe == A), ("b", probe == 2)):
        measured = keras_gates.match_units(
            model, probe, marks, layer="lstm", gate="input", top=None
        )
        for found in measured:
            (match,) = [
                m
                for m in answer["units"][found["unit"]]["matches"]
                if m["annotation"] == name
            ]
            assert match["score"] == pytest.approx(found["score"], abs=1e-3)
            assert match["direction"] == found["direction"]
    planted = {u["unit"]: u["matches"][0] for u in answer["units"][:2]}
    assert (
        planted[0]["direction"] == "high" and planted[1]["direction"] == "low"
    )
    assert min(planted[0]["score"], planted[1]["score"]) > 0.95


@pytest.fixture(scope="module")
def browser():
    with chromium_browser() as launched:
        yield launched


@pytest.fixture
def cards(served, browser):
    """The Gates tab on the input gate; yields (frame, api, problems)."""
    url, api, *_ = served
    page, problems = watched_page(browser, 1400, 2400)
    page.goto(url)
    frame = page.frame_locator(FRAME)
    frame.locator("select[name=gate]").select_option("input")
    # The cards of the forget gate (shown first) give way to the input's.
    expect(frame.locator(".cards-note")).to_contain_text("units of input")
    yield frame, api, problems
    page.close()
    assert problems == []


def shown_units(frame):
    return [
        int(u)
        for u in frame.locator(".unit-card").evaluate_all(
            "cards => cards.map((c) => c.dataset.unit)"
        )
    ]


def expected_order(units, key):
    def value(unit):
        found = unit[key]
        return (found is None, -(found or 0), unit["unit"])

    return [u["unit"] for u in sorted(units, key=value)]


def test_cards_sort_by_match_saturation_and_change(cards):
    frame, api, _ = cards
    answer = api("units", run="train", layer="lstm", gate="input", epoch=1)
    sort = frame.locator("select[name=card-sort]")
    expect(sort).to_have_value("match:a")  # the first annotation
    assert set(shown_units(frame)[:2]) == {0, 1}
    for key in ("open", "shut", "change"):
        sort.select_option(key)
        assert shown_units(frame) == expected_order(answer["units"], key)
    sort.select_option("match:b")
    scores = [
        {m["annotation"]: m["score"] for m in u["matches"]}["b"]
        for u in answer["units"]
    ]
    assert shown_units(frame)[0] == int(np.argmax(scores))


def test_clicking_a_card_selects_its_unit_in_every_view(cards):
    frame, _, _ = cards
    frame.locator(".unit-card[data-unit='3']").click()
    expect(frame.locator(".unit-value")).to_have_text("unit 3")
    expect(frame.locator(".unit-card.selected")).to_have_attribute(
        "data-unit", "3"
    )
    expect(frame.locator("polyline.trace.selected")).to_have_attribute(
        "data-unit", "3"
    )
    expect(frame.locator("svg.unit-histograms")).to_be_visible()
    # Selecting elsewhere moves the card's mark.
    frame.locator("polyline.trace[data-unit='2']").dispatch_event("click")
    expect(frame.locator(".unit-card.selected")).to_have_attribute(
        "data-unit", "2"
    )
    # Each card's histogram has a row per logged epoch.
    rows = frame.locator(".unit-card[data-unit='2'] svg.card-epochs rect")
    expect(rows).to_have_count(2 * 20 + 1)  # 2 epochs x 20 bins, outline


def test_card_tokens_are_text_never_html(cards):
    frame, _, problems = cards
    tokens = frame.locator(".unit-card[data-unit='0'] .card-token")
    expect(tokens).to_have_count(STEPS)
    assert tokens.nth(9).text_content() == VOCABULARY[XSS]
    assert tokens.nth(3).text_content() == "a"
    # Unit 0 opens on "a": its token there is shaded by a value near 1.
    title = tokens.nth(3).get_attribute("title")
    assert title.startswith("step 3: ") and float(title.split()[-1]) > 0.99
    assert frame.locator("img").count() == 0
    assert problems == []


def test_bad_annotations_stop_gatemonitor_before_any_training(tmp_path):
    model = planted_model(STEPS)
    model.compile(loss="mse")
    x = token_ids(4, STEPS)
    y = np.zeros((4, STEPS, 1))
    for annotations, message in (
        ([x == A], "must be a non-empty dict"),
        ({"a": np.ones((4, STEPS, 2), bool)}, "of shape (sequences, time)"),
        ({"a": np.full((4, STEPS), 2)}, "must be a bool array"),
    ):
        with pytest.raises(ValueError, match="GateMonitor: ") as error:
            keras_gates.GateMonitor(tmp_path, annotations=annotations)
        assert message in str(error.value)
    for probe, annotations, message in (
        (None, {"a": x == A}, "no probe_data was given"),
        (x, {"a": (x == A)[:, :5]}, "mark 5 steps, but probe_data has 16"),
        (x, {"a": (x == A)[:2]}, "has 2 rows for 4 probe sequences"),
    ):
        monitor = keras_gates.GateMonitor(
            tmp_path, probe_data=probe, annotations=annotations
        )
        epochs = []
        with pytest.raises(ValueError, match=message):
            model.fit(
                x,
                y,
                epochs=1,
                verbose=0,
                callbacks=[
                    monitor,
                    keras.callbacks.LambdaCallback(
                        on_epoch_begin=lambda *_, seen=epochs: seen.append(1)
                    ),
                ],
            )
        assert epochs == []  # raised before the first epoch began
