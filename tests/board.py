"""Helpers for the Gates dashboard tests: TensorBoard's WSGI app over a log
directory, a real `keras-gates board` server, and Debian's Chromium."""

import contextlib
import fcntl
import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request

import keras
import numpy as np
import pytest
from tensorboard import default, program
from tensorboard.backend import application
from tensorboard.backend.event_processing import (
    data_provider,
    plugin_event_multiplexer,
)
from tensorboard.compat.proto import event_pb2, summary_pb2
from tensorboard.summary.writer.event_file_writer import EventFileWriter
from tensorboard.util import tensor_util
from werkzeug.test import Client

import keras_gates
from tensorboard_plugin_gates import metadata

VOCABULARY = ["<pad>", "a", "b", " ", "\n", "<img src=x onerror=alert(1)>"]
TIME = 9


def fit_logged(logdir, probe, shown, attribution="saliency"):
    """Fit a masked Embedding -> Bidirectional(stock LSTM) -> keras-gates
    GRU model for two epochs with GateMonitor (logging `attribution`) and
    Keras's TensorBoard callback writing to `logdir`; returns (model, probe
    token ids)."""
    rng = np.random.default_rng(3)
    x = rng.integers(1, len(VOCABULARY), (24, TIME))
    x[1, 6:] = 0  # right padding (masked)
    y = rng.standard_normal((24, 1)).astype("float32")
    inputs = keras.Input((TIME,), dtype="int32")
    h = keras.layers.Embedding(len(VOCABULARY), 4, mask_zero=True)(inputs)
    h = keras.layers.Bidirectional(
        keras.layers.LSTM(5, return_sequences=True), name="bi"
    )(h)
    h = keras_gates.GRU(3, name="gru")(h)
    model = keras.Model(inputs, keras.layers.Dense(1)(h))
    model.compile(optimizer="adam", loss="mse")
    model.fit(
        x,
        y,
        epochs=2,
        validation_split=0.25,
        verbose=0,
        callbacks=[
            keras.callbacks.TensorBoard(logdir),
            keras_gates.GateMonitor(
                logdir,
                probe_data=x[:probe],
                vocabulary=VOCABULARY,
                dashboard_sequences=shown,
                attribution=attribution,
                attribution_share=None,  # every epoch
            ),
        ],
    )
    return model, x[:probe]


LAYER_INFO = {
    "kind": "LSTM",
    "index": 0,
    "units": 2,
    "input_dim": 3,
    "gates": ["input", "forget", "cell", "output"],
    "sigmoid_gates": ["input", "forget", "output"],
    "left": 0.1,
    "right": 0.9,
}


def write_layer(run_dir, content, layer="lstm"):
    """Write, without TensorFlow, one epoch of a layer's `layer` info
    (`LAYER_INFO`) and `valid` mask (2 sequences of 4 steps) in the Gates
    format, each summary with `content` as its plugin data."""
    values = {
        "layer": np.array(json.dumps(LAYER_INFO).encode(), dtype=object),
        "valid": np.ones((2, 4), np.uint8),
    }
    writer = EventFileWriter(str(run_dir))
    for kind, value in values.items():
        about = metadata.create_summary_metadata(kind)
        about.plugin_data.content = content
        summary = summary_pb2.Summary()
        summary.value.add(
            tag=metadata.tag(layer, kind),
            metadata=about,
            tensor=tensor_util.make_tensor_proto(value),
        )
        writer.add_event(event_pb2.Event(step=0, summary=summary))
    writer.close()


def client(logdir):
    """A werkzeug client of TensorBoard's own WSGI app, with every plugin
    (ours through its entry point), keeping every step."""
    plugins = default.get_plugins()
    board = program.TensorBoard(plugins=plugins)
    board.configure(argv=[None, "--logdir", str(logdir)])
    multiplexer = plugin_event_multiplexer.EventMultiplexer(
        tensor_size_guidance={"gates": 0}
    )
    multiplexer.AddRunsFromDirectory(str(logdir))
    multiplexer.Reload()
    provider = data_provider.MultiplexerDataProvider(multiplexer, str(logdir))
    app = application.TensorBoardWSGIApp(
        board.flags, plugins, provider, None, multiplexer
    )
    return Client(app)


def get_json(client, route, **query):
    """(status, JSON body) of a plugin route."""
    response = client.get(f"/data/plugin/gates/{route}", query_string=query)
    return response.status_code, json.loads(response.data)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def board_server(logdir):
    """`keras-gates board LOGDIR --port P` running; yields the URL it
    printed (of the Gates tab) once the data is loaded (or refused, 409)."""
    process = subprocess.Popen(
        [sys.executable, "-m", "keras_gates_cli", "board", str(logdir)]
        + ["--port", str(free_port())],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        line = process.stdout.readline()
        assert "#gates" in line, line
        url = line.split()[3]
        base = url.split("#")[0]
        runs = base + "data/plugin/gates/runs"
        deadline = time.monotonic() + 60
        while True:  # until the data is loaded
            try:
                with urllib.request.urlopen(runs) as r:
                    if json.load(r):
                        break
            except urllib.error.HTTPError as error:
                if error.code == 409:  # loaded, of a format it cannot read
                    break
                raise
            assert time.monotonic() < deadline, "no gate data served"
            time.sleep(0.5)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=30)
        process.stdout.close()


def api_of(url):
    """`api(route, **query)`: the JSON a plugin route of the server whose
    page is `url` answers."""
    base = url.split("#")[0] + "data/plugin/gates/"

    def api(route, **query):
        address = f"{base}{route}?{urllib.parse.urlencode(query)}"
        with urllib.request.urlopen(address) as response:
            return json.load(response)

    return api


@contextlib.contextmanager
def chromium_browser():
    """Debian's Chromium, launched by Playwright."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=chromium())
        yield launched
        launched.close()


def watched_page(browser, width, height):
    """A new page, and the list that its console errors, page errors and
    dialogs go to (an alert would mean injected HTML ran)."""
    page = browser.new_page(viewport={"width": width, "height": height})
    problems = []
    page.on(
        "console",
        lambda m: problems.append(m.text) if m.type == "error" else None,
    )
    page.on("pageerror", lambda e: problems.append(str(e)))
    page.on("dialog", lambda d: (problems.append(d.message), d.dismiss()))
    return page, problems


def chromium():
    """The path of Debian's Chromium, installed with apt-get when missing
    (as root, once for all test workers)."""
    found = shutil.which("chromium")
    if found:
        return found
    if os.geteuid() != 0 or not shutil.which("apt-get"):
        pytest.fail(
            "the browser tests need Debian's chromium: apt-get install "
            "chromium (as root)"
        )
    with open("/tmp/keras_gates_chromium.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not shutil.which("chromium"):
            env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
            for command in (
                ["apt-get", "update", "-qq"],
                ["apt-get", "install", "-y", "-qq", "chromium"],
            ):
                subprocess.run(command, check=True, env=env, timeout=900)
    return shutil.which("chromium")


class EventSummaries:
    """Summaries written without TensorFlow: what the plugin's writer adds
    (its `tensor(tag, array, metadata)`), as one event per `write(step)`."""

    def __init__(self, run_dir):
        self.writer = EventFileWriter(str(run_dir))
        self.proto = summary_pb2.Summary()

    def tensor(self, tag, data, about):
        self.proto.value.add(
            tag=tag, metadata=about, tensor=tensor_util.make_tensor_proto(data)
        )

    def write(self, step):
        self.writer.add_event(event_pb2.Event(step=step, summary=self.proto))
        self.proto = summary_pb2.Summary()

    def close(self):
        self.writer.close()
