"""What GateMonitor computes from gates and how it is written to TensorBoard.

- `stats`: saturation statistics of gate values (NumPy);
- `images`: heatmaps and saturation scatter plots rendered to RGBA arrays;
- `write`: TensorBoard writers for those, with a fixed signature
  `(name, data, step=None, description=None)`, and the custom_scalars
  layout.
"""
