"""The Gates dashboard: a TensorBoard plugin for keras-gates' GateMonitor logs.

Named after TensorBoard's convention for dynamic plugins
(`tensorboard_plugin_<name>`) and kept apart from `keras_gates` on purpose:
TensorBoard imports this package at start-up through the
`tensorboard_plugins` entry point, and importing `keras_gates` imports
Keras and TensorFlow. Nothing here imports either.

- `metadata`: the plugin name and the summary format (tags, encoding);
- `reader`: the logged data, read through TensorBoard's data provider, as
  plain Python values;
- `plugin`: the `TBPlugin`, its HTTP routes and static files;
- `static/`: the dashboard itself, ES modules with no build step.
"""
