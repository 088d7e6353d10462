"""Training on several devices and processes, each in child processes:
JAX's DataParallel over two host CPU devices, and TensorFlow's
MultiWorkerMirroredStrategy with two workers on 127.0.0.1 (a custom
training loop: Keras 3.15's `fit` fails under that strategy even with
stock layers)."""

import json
import os
import socket
import subprocess
import sys

import numpy as np
import pytest
from conftest import CellSpec
from events import summaries
from logged import assert_probe_stats
from reference import numpy_rnn

JAX_SCRIPT = """
import json, sys
import numpy as np, keras, jax
import keras_gates

def build():
    inputs = keras.Input((6, 3))
    h = keras.layers.Bidirectional(
        keras_gates.LSTM(4, return_sequences=True), name="bi")(inputs)
    h = keras.layers.GRU(3, name="gru")(h)
    model = keras.Model(inputs, keras.layers.Dense(1)(h))
    model.compile(optimizer="adam", loss="mse")
    return model

rng = np.random.default_rng(0)
x = rng.standard_normal((32, 6, 3)).astype("float32")
y = rng.standard_normal((32, 1)).astype("float32")
keras.distribution.set_distribution(
    keras.distribution.DataParallel(devices=jax.devices()))
model = build()
monitor = keras_gates.GateMonitor(sys.argv[1], probe_data=x[:8])
history = model.fit(x, y, batch_size=8, epochs=2, verbose=0,
                    callbacks=[monitor])
shared = keras_gates.gates(model, x[:8])
weights = model.get_weights()
keras.distribution.set_distribution(None)
alone = build()
alone.set_weights(weights)
single = keras_gates.gates(alone, x[:8])
print(json.dumps({
    "devices": len(jax.devices()),
    "loss": history.history["loss"],
    "difference": max(float(np.abs(shared[l][g] - single[l][g]).max())
                      for l in single for g in single[l]),
}))
"""


def test_jax_data_parallel_on_two_devices(tmp_path):
    env = {
        **os.environ,
        "KERAS_BACKEND": "jax",
        "XLA_FLAGS": "--xla_force_host_platform_device_count=2",
    }
    done = subprocess.run(
        [sys.executable, "-c", JAX_SCRIPT, str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=600,
        env=env,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["devices"] == 2
    assert all(np.isfinite(result["loss"]))
    assert result["difference"] < 1e-5  # gates equal a one-device copy's
    written = summaries(tmp_path / "train")
    assert sorted(written["gru/update/mean"]) == [0, 1]


PROCESS_SCRIPT = """
import sys
index, port, logdir, saved = sys.argv[1:]
import jax
jax.config.update("jax_cpu_collectives_implementation", "gloo")
import keras, numpy as np
keras.distribution.initialize(f"127.0.0.1:{port}", num_processes=2,
                              process_id=int(index))
import keras_gates

assert jax.process_index() == int(index) and jax.process_count() == 2
# Each process feeds its own rows (4 a batch, 8 in all per step).
keras.distribution.set_distribution(keras.distribution.DataParallel(
    devices=jax.devices(), auto_shard_dataset=False))
inputs = keras.Input((6, 3))
lstm = keras.layers.LSTM(4, name="lstm")
model = keras.Model(inputs, keras.layers.Dense(1)(lstm(inputs)))
model.compile(optimizer="sgd", loss="mse")
x = np.random.default_rng(int(index)).standard_normal((16, 6, 3))
x = x.astype("float32")
save = keras.callbacks.LambdaCallback(on_epoch_end=lambda epoch, logs: np.savez(
    f"{saved}/process{index}_epoch{epoch}.npz", x[:4], *lstm.get_weights()))
monitor = keras_gates.GateMonitor(logdir, probe_data=x[:4], figures=False)
history = model.fit(x, np.zeros((16, 1), "float32"), batch_size=4,
                    epochs=2, verbose=0, callbacks=[monitor, save])
print(history.history["loss"])
"""


def test_jax_multi_process_only_process_0_writes(tmp_path):
    """Two JAX processes on this machine (`jax.distributed` over gloo on
    CPU) train one model with DataParallel, each with a GateMonitor
    probing its own rows: only process 0 writes, its probe's values."""
    env = {**os.environ, "KERAS_BACKEND": "jax"}
    env.pop("XLA_FLAGS", None)  # one CPU device per process
    outputs, saved = run_pair(PROCESS_SCRIPT, free_ports(1), tmp_path, env)
    losses = [out.strip().splitlines()[-1] for out in outputs]
    assert losses[0] == losses[1]  # one model, trained together
    files = list((tmp_path / "logs" / "train").glob("events.out.tfevents.*"))
    assert len(files) == 1
    written = summaries(tmp_path / "logs" / "train")
    assert sorted(written["lstm/forget/mean"]) == [0, 1]
    assert_written_by(written, saved, "process", 0)


def run_pair(script, address, tmp_path, env=None):
    """Run `script` in two child processes at once, with the arguments
    index (0, 1), `address`, the log dir and a folder for saved arrays;
    returns their outputs and that folder."""
    saved = tmp_path / "saved"
    saved.mkdir()
    children = [
        subprocess.Popen(
            [sys.executable, "-c", script, str(index), address]
            + [str(tmp_path / "logs"), str(saved)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        for index in range(2)
    ]
    outputs = []
    for child in children:
        out, err = child.communicate(timeout=600)
        assert child.returncode == 0, err[-3000:]
        outputs.append(out)
    return outputs, saved


def assert_written_by(written, saved, name, writer):
    """The LSTM's statistics at each epoch are those of NumPy on the probe
    of `writer` with that epoch's weights (saved as
    `<name><index>_epoch<epoch>.npz`: probe, weights); the other one's
    probe fails the check."""
    for epoch in (0, 1):
        for index in (0, 1):
            path = saved / f"{name}{index}_epoch{epoch}.npz"
            with np.load(path) as found:
                x, *weights = (found[f"arr_{i}"] for i in range(4))
            _, gates = numpy_rnn(CellSpec("LSTM"), weights, x)
            valid = np.ones(x.shape[:2], bool)
            if index == writer:
                assert_probe_stats(written, "lstm", gates, valid, step=epoch)
            else:
                with pytest.raises(AssertionError):
                    assert_probe_stats(
                        written, "lstm", gates, valid, step=epoch
                    )


WORKER_SCRIPT = """
import json, os, sys
index, ports, logdir = int(sys.argv[1]), sys.argv[2].split(","), sys.argv[3]
saved = sys.argv[4]
os.environ["TF_CONFIG"] = json.dumps({
    "cluster": {"worker": [f"127.0.0.1:{p}" for p in ports]},
    "task": {"type": "worker", "index": index},
})
import numpy as np, tensorflow as tf, keras, keras_gates

strategy = tf.distribute.MultiWorkerMirroredStrategy()
with strategy.scope():
    model = keras.Sequential([keras.Input((5, 3)),
                              keras_gates.LSTM(4, name="lstm"),
                              keras.layers.Dense(1)])
    optimizer = keras.optimizers.SGD(0.01)
# Each worker probes with different data: a duplicate would show.
x = np.random.default_rng(index).standard_normal((16, 5, 3))
x = x.astype("float32")
monitor = keras_gates.GateMonitor(logdir, probe_data=x[:4], figures=False)
monitor.set_model(model)
monitor.on_train_begin()

@tf.function
def step(xb):
    def replica(xb):
        with tf.GradientTape() as tape:
            loss = tf.reduce_mean(model(xb, training=True) ** 2)
        grads = tape.gradient(loss, model.trainable_variables)
        optimizer.apply_gradients(zip(grads, model.trainable_variables))
    strategy.run(replica, args=(xb,))

for epoch in range(2):
    step(x)
    monitor.on_epoch_end(epoch)
    # The weights each worker probed with, and its probe.
    np.savez(f"{saved}/worker{index}_epoch{epoch}.npz", x[:4],
             *model.get_layer("lstm").get_weights())
monitor.on_train_end()
"""


def free_ports(count):
    sockets = [socket.socket() for _ in range(count)]
    for s in sockets:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ",".join(map(str, ports))


@pytest.mark.skipif(
    os.environ.get("KERAS_BACKEND", "tensorflow") != "tensorflow",
    reason="a TensorFlow strategy",
)
def test_multi_worker_only_the_chief_writes(tmp_path):
    _, saved = run_pair(WORKER_SCRIPT, free_ports(2), tmp_path)
    files = list((tmp_path / "logs" / "train").glob("events.out.tfevents.*"))
    assert len(files) == 1  # the chief's
    written = summaries(tmp_path / "logs" / "train")
    assert sorted(written["lstm/forget/mean"]) == [0, 1]
    # Each epoch's statistics are those of the chief's probe (worker 0's
    # rows) with the weights of that epoch.
    assert_written_by(written, saved, "worker", 0)
