"""Keras callbacks that log gates to TensorBoard."""

from keras_gates.callbacks.cost import (
    GateMonitorCostWarning as GateMonitorCostWarning,
)
from keras_gates.callbacks.gate_monitor import GateMonitor as GateMonitor
