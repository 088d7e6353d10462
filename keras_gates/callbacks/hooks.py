"""Which GateMonitor listens to a model's training, so that no listener
outlives the fit it was made for.

A GateMonitor that tracks training statistics or keeps training batches
replaces `call` of the model or of its recurrent layers for the length of
a fit, and puts it back in `on_train_end`. Keras calls no `on_train_end`
when a fit ends by an exception or Ctrl-C, and two monitors replacing the
same `call` would wrap each other. So the model holds a note of the one
monitor listening and of the fit it listens to (the `params` dict that
Keras hands every callback of one fit): a monitor of a later fit takes
off what a monitor of an unfinished earlier fit left, and a second
listening monitor of the same fit is refused.
"""

_NOTE = "_keras_gates_listener"


def claim(model, monitor):
    """Make `monitor` the GateMonitor listening to `model`'s training.

    Raises ValueError if another monitor of the same fit listens already.
    """
    clear_stale(model, monitor)
    held = model.__dict__.get(_NOTE)
    if held is not None and held[0] is not monitor:
        # Keras will not end this fit's callbacks: leave the model clean.
        held[0].stop_listening()
        raise ValueError(
            f"GateMonitor: model '{model.name}' has a GateMonitor listening "
            "to its training already (track_training=True, or no probe_data "
            "and no validation data, so the training batches are kept); two "
            "cannot listen to one fit. Give the others probe_data or "
            "validation data and track_training=False, or use one monitor."
        )
    object.__setattr__(model, _NOTE, (monitor, monitor.params))


def clear_stale(model, monitor):
    """Take off what a monitor of an earlier fit, which never ended, left
    on `model`; returns whether there was anything."""
    held = model.__dict__.get(_NOTE)
    if held is None or held[1] is monitor.params:
        return False
    held[0].stop_listening()
    return True


def release(model, monitor):
    """`monitor` no longer listens (its fit ended)."""
    held = model.__dict__.get(_NOTE)
    if held is not None and held[0] is monitor:
        object.__delattr__(model, _NOTE)
