"""Transparent recurrent layers and cells."""

from keras_gates.layers.gru import GRU as GRU
from keras_gates.layers.gru import GRUCell as GRUCell
from keras_gates.layers.lstm import LSTM as LSTM
from keras_gates.layers.lstm import LSTMCell as LSTMCell
from keras_gates.layers.simple_rnn import SimpleRNN as SimpleRNN
from keras_gates.layers.simple_rnn import SimpleRNNCell as SimpleRNNCell
