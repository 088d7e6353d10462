"""keras-gates: Keras recurrent layers that show their gates."""

from keras_gates import annotations as annotations
from keras_gates.ablation import ablate as ablate
from keras_gates.attribution import attribution as attribution
from keras_gates.callbacks import GateMonitor as GateMonitor
from keras_gates.describe import describe as describe
from keras_gates.discovery import match_units as match_units
from keras_gates.gate_model import GatesOf as GatesOf
from keras_gates.gate_model import gate_model as gate_model
from keras_gates.interventions import intervene as intervene
from keras_gates.layers import GRU as GRU
from keras_gates.layers import LSTM as LSTM
from keras_gates.layers import GRUCell as GRUCell
from keras_gates.layers import LSTMCell as LSTMCell
from keras_gates.layers import SimpleRNN as SimpleRNN
from keras_gates.layers import SimpleRNNCell as SimpleRNNCell
from keras_gates.layers.edit import Scale as Scale
from keras_gates.layers.edit import Set as Set
from keras_gates.pattern_search import search as search
from keras_gates.probe import gates as gates
from keras_gates.transparent import transparent as transparent

__version__ = "0.1.0"
