"""What GateMonitor computes from gates and how it is written to TensorBoard.

- `stats`: gate statistics counted with tensor ops (on the device, in
  the probe's and the train step's compiled functions) and read as
  saturation statistics;
- `images`: heatmaps and saturation scatter plots rendered to RGBA arrays;
- `write`: `Summaries`, which gathers scalars, histograms, images and text
  and writes them to TensorBoard with one op, and the custom_scalars
  layout;
- `cell_figures`: the four figures as images, once per distinct cell;
- `board`: the data of the Gates dashboard (format defined in
  `tensorboard_plugin_gates.metadata`).
"""
