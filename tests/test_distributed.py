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
    ports = free_ports(2)
    saved = tmp_path / "saved"
    saved.mkdir()
    workers = [
        subprocess.Popen(
            [sys.executable, "-c", WORKER_SCRIPT, str(i), ports]
            + [str(tmp_path / "logs"), str(saved)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for i in range(2)
    ]
    for worker in workers:
        _, err = worker.communicate(timeout=600)
        assert worker.returncode == 0, err[-3000:]
    files = list((tmp_path / "logs" / "train").glob("events.out.tfevents.*"))
    assert len(files) == 1  # the chief's
    written = summaries(tmp_path / "logs" / "train")
    assert sorted(written["lstm/forget/mean"]) == [0, 1]
    # Each epoch's statistics are those of the chief's probe (worker 0's
    # rows) with the weights of that epoch; worker 1's rows fail the check.
    for epoch in (0, 1):
        for worker in (0, 1):
            with np.load(saved / f"worker{worker}_epoch{epoch}.npz") as found:
                x, *weights = (found[f"arr_{i}"] for i in range(4))
            _, gates = numpy_rnn(CellSpec("LSTM"), weights, x)
            valid = np.ones(x.shape[:2], bool)
            if worker == 0:
                assert_probe_stats(written, "lstm", gates, valid, step=epoch)
            else:
                with pytest.raises(AssertionError):
                    assert_probe_stats(
                        written, "lstm", gates, valid, step=epoch
                    )
