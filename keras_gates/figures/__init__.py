"""Four figures of a recurrent cell, drawn for a layer's real sizes.

They explain what the gates logged by keras-gates are: `rnn_cell` (the
simple RNN cell: one tanh layer on x_t joined to h_{t-1}), `lstm_gates`
(the LSTM cell, each gate a sigmoid layer and a multiplication),
`lstm_dimensions` (what each of its four layers maps to what, with weight
shapes and parameter counts) and `lstm_vs_gru` (the two cells side by
side). Sizes are D_x (input features) and D_h (units); parameter counts
follow `use_bias` and, for the GRU, `reset_after` (Keras's defaults: with
biases, `reset_after=True`), read from the layer when one is given. Given
the mean value of each sigmoid gate (`mean_openness`), the gate boxes are
coloured by it.

Figures are `matplotlib.figure.Figure` objects rendered with the Agg
canvas only: nothing goes through `pyplot`, so no window opens and no
figure needs closing.
"""

from keras_gates.figures.api import FIGURES as FIGURES
from keras_gates.figures.api import draw as draw
from keras_gates.figures.api import mean_openness as mean_openness
from keras_gates.figures.api import save as save
from keras_gates.figures.api import shown_by as shown_by
from keras_gates.figures.api import to_pixels as to_pixels
from keras_gates.figures.panels import lstm_dimensions as lstm_dimensions
from keras_gates.figures.panels import lstm_gates as lstm_gates
from keras_gates.figures.panels import lstm_vs_gru as lstm_vs_gru
from keras_gates.figures.panels import rnn_cell as rnn_cell
