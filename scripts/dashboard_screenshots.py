"""Screenshots of the Gates dashboard for the README, in headless Chromium.

Starts `keras-gates board LOGDIR`, opens the Gates tab of a run and takes
one picture of each view: the whole page, the cell and its charts over
training, the sequence view with a tooltip, the unit traces after a
pattern search around the first newline of the probe text, and the
saturation map with the found unit selected.

    keras-gates demo && python scripts/dashboard_screenshots.py logs/demo

With `--attribution`, the logs of `examples/why_gates_open.py` instead:
the sequence view with its attribution row, the most saturated forget
unit selected.

    python examples/why_gates_open.py
    python scripts/dashboard_screenshots.py logs/why_gates_open --attribution

With `--text`, the logs of `examples/text_classifier.py`: the sequence
view of a validation text, its steps labelled with the model's own words.

    python examples/text_classifier.py
    python scripts/dashboard_screenshots.py logs/text_classifier --text
With `--cards GATE`, only the unit cards of the demo's LSTM gate GATE,
sorted by their match to the first annotation, the best one selected.

    python scripts/dashboard_screenshots.py logs/demo --cards cell
With `--importance`, the logs of `examples/test_a_gate.py --logdir`: the
saturation map of the forget gate, dots sized by importance, and the most
important unit over epochs.

    python examples/test_a_gate.py --logdir logs/test_a_gate
    python scripts/dashboard_screenshots.py logs/test_a_gate --importance
"""

import argparse
import contextlib
import pathlib
import shutil
import subprocess
import sys

from playwright.sync_api import sync_playwright

FRAME = 'iframe[src="data/plugin_entry.html?name=gates"]'


def panel(frame, title):
    return frame.locator(f'section.panel:has(h3:text-is("{title}"))')


@contextlib.contextmanager
def opened(url):
    """(browser, page, frame) of the Gates tab at `url`, drawn."""
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=shutil.which("chromium")
        )
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.goto(url)
        frame = page.frame_locator(FRAME)
        frame.locator(".heatmap canvas").first.wait_for()
        yield browser, page, frame


def shoot(url, run, out, layer_kind):
    with opened(url) as (browser, page, frame):
        frame.locator("select[name=run]").select_option(run)
        frame.locator(
            f".heatmap-figure figcaption:has-text('{run.split('/')[0]}')"
        ).wait_for()
        panel(frame, "The cell").screenshot(
            path=out / f"dashboard_cell_{layer_kind}.png"
        )
        if layer_kind == "gru":
            browser.close()
            return
        frame.locator("svg.cell g.gate[data-gate=forget]").click()
        tokens = frame.locator("svg.axes text.token").all_text_contents()
        newline = tokens.index("\u23ce") if "\u23ce" in tokens else 10
        form = frame.locator("form.pattern")
        for threshold in ("0.9", "0.8", "0.7", "0.6", "0.5"):
            form.locator("input[name=threshold]").fill(threshold)
            form.locator("input[name=start]").fill(str(newline))
            form.locator("input[name=end]").fill(str(newline))
            with page.expect_response(lambda r: "/pattern?" in r.url):
                form.locator("button").click()
            frame.locator(".results:not(:empty)").wait_for()
            if frame.locator("ol.results button").count():
                break
        found = frame.locator("ol.results button")
        if found.count():
            found.first.click()
        canvas = frame.locator(".heatmap canvas")
        height = float(canvas.get_attribute("data-cell-height"))
        width = float(canvas.get_attribute("data-cell-width"))
        canvas.hover(position={"x": (newline + 0.5) * width, "y": 5.5 * height})
        panel(frame, "Sequence view").screenshot(
            path=out / "dashboard_sequence.png"
        )
        panel(frame, "Unit traces and pattern search").screenshot(
            path=out / "dashboard_traces.png"
        )
        frame.locator(".row").nth(1).screenshot(
            path=out / "dashboard_saturation.png"
        )
        frame.locator(".row").first.screenshot(path=out / "dashboard_top.png")
        page.set_viewport_size({"width": 1400, "height": 2100})
        page.screenshot(path=out / "dashboard.png")
        browser.close()


def shoot_attribution(url, out):
    """The sequence view of the forget gate with the attribution row of
    the unit GateMonitor explained, a tooltip on a newline step."""
    with opened(url) as (browser, page, frame):
        frame.locator("svg.cell g.gate[data-gate=forget]").click()
        frame.locator("input[name=epoch]").fill("1000")  # the last one
        label = frame.locator(".attribution-label")
        label.wait_for()
        caption = frame.locator(".heatmap-figure figcaption").inner_text()
        epoch = caption.rsplit(" ", 1)[1]
        with page.expect_response(lambda r: "/values?" in r.url) as answer:
            frame.locator("select[name=sequence]").select_option("1")
        data = answer.value.json()
        (unit,) = [int(u) for u in data["attribution"]["units"]]
        canvas = frame.locator(".heatmap canvas")
        height = float(canvas.get_attribute("data-cell-height"))
        width = float(canvas.get_attribute("data-cell-width"))
        canvas.click(position={"x": width / 2, "y": (unit + 0.5) * height})
        frame.locator(f".attribution-label:has-text('unit {unit}')").wait_for()
        tokens = frame.locator("svg.axes text.token").all_text_contents()
        step = tokens.index("\u23ce") if "\u23ce" in tokens else 10
        canvas.hover(
            position={"x": (step + 0.5) * width, "y": (unit + 0.5) * height}
        )
        panel(frame, "Sequence view").screenshot(
            path=out / "dashboard_attribution.png"
        )
        print(f"epoch {epoch}, forget unit {unit}")
        browser.close()


def shoot_text(url, out):
    """The sequence view of a text model's validation run: the words of
    the model's own vocabulary along the steps of its first probe text, a
    tooltip on the fourth."""
    with opened(url) as (browser, page, frame):
        frame.locator("select[name=run]").select_option("validation")
        frame.locator("svg.cell g.gate[data-gate=forget]").click()
        frame.locator("input[name=epoch]").fill("1000")  # the last one
        frame.locator(".attribution-label").wait_for()
        canvas = frame.locator(".heatmap canvas")
        height = float(canvas.get_attribute("data-cell-height"))
        width = float(canvas.get_attribute("data-cell-width"))
        canvas.hover(position={"x": 3.5 * width, "y": 2.5 * height})
        frame.locator(".tooltip").wait_for()
        panel(frame, "Sequence view").screenshot(
            path=out / "dashboard_text.png"
        )
        tokens = frame.locator("svg.axes text.token").all_text_contents()
        print("tokens:", tokens)


def shoot_cards(url, gate, out):
    """The unit cards of one gate of the demo's LSTM, the best selected."""
    with opened(url) as (browser, page, frame):
        page.set_viewport_size({"width": 1400, "height": 2600})
        frame.locator("select[name=run]").select_option("lstm/train")
        frame.locator("select[name=gate]").select_option(gate)
        frame.locator("input[name=epoch]").fill("1000")  # the last one
        frame.locator(".unit-card").first.wait_for()
        quotes = []  # the stored sequence with the most quotes
        for sequence in range(
            frame.locator("select[name=sequence] option").count()
        ):
            frame.locator("select[name=sequence]").select_option(str(sequence))
            frame.locator(
                f".heatmap-figure figcaption:has-text('sequence {sequence},')"
            ).wait_for()
            text = frame.locator(".unit-card .card-tokens").first.inner_text()
            quotes.append(text.count('"') + text.count("'"))
        chosen = str(quotes.index(max(quotes)))
        frame.locator("select[name=sequence]").select_option(chosen)
        frame.locator(
            f".heatmap-figure figcaption:has-text('sequence {chosen},')"
        ).wait_for()
        best = frame.locator(".unit-card").first
        best.wait_for()
        best.click()
        frame.locator(".unit-card.selected svg.card-epochs").wait_for()
        frame.locator(".unit-card svg.card-epochs").nth(7).wait_for()
        panel(frame, "Unit cards").screenshot(path=out / "dashboard_cards.png")
        print(f"{gate}: unit {best.get_attribute('data-unit')} selected")


def shoot_importance(url, out):
    """The saturation map with dots sized by importance, the most
    important forget unit selected."""
    with opened(url) as (browser, page, frame):
        frame.locator("svg.cell g.gate[data-gate=forget]").click()
        dots = frame.locator('svg.scatter[data-gate="forget"] circle.dot')
        dots.first.wait_for()
        found = [
            (float(dots.nth(i).get_attribute("data-importance")), i)
            for i in range(dots.count())
        ]
        top = dots.nth(max(found)[1])
        unit = top.get_attribute("data-unit")
        top.dispatch_event("click")
        frame.locator("svg.unit-importance").wait_for()
        frame.locator(".row").nth(1).screenshot(
            path=out / "dashboard_importance.png"
        )
        print(f"forget unit {unit}, importance {max(found)[0]}")
        browser.close()


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("logdir", type=pathlib.Path)
    parser.add_argument("--out", type=pathlib.Path, default="docs/images")
    parser.add_argument("--attribution", action="store_true")
    parser.add_argument("--text", action="store_true")
    parser.add_argument("--cards", metavar="GATE")
    parser.add_argument("--importance", action="store_true")
    args = parser.parse_args(argv)
    board = subprocess.Popen(
        [sys.executable, "-m", "keras_gates_cli", "board", str(args.logdir)],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        url = board.stdout.readline().split()[3]
        if args.attribution:
            shoot_attribution(url, args.out)
            return
        if args.text:
            shoot_text(url, args.out)
        if args.cards:
            shoot_cards(url, args.cards, args.out)
        if args.importance:
            shoot_importance(url, args.out)
            return
        shoot(url, "lstm/train", args.out, "lstm")
        shoot(url, "gru/train", args.out, "gru")
    finally:
        board.terminate()


if __name__ == "__main__":
    main()
