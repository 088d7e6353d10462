"""The `gates` TensorBoard plugin: routes over `Reader` and static files.

Registered through the `tensorboard_plugins` entry point, so a plain
`tensorboard --logdir DIR` shows a "Gates" tab. Every route answers JSON;
errors are `{"error": message}` with status 400 (bad arguments), 404 (not
in the logs) or 409 (logs of a format this version cannot read: the request
is fine, the logs conflict with this dashboard, and upgrading keras-gates
resolves it), never a traceback. Nothing from a request reaches the
filesystem: static files are a fixed set read at start-up.
"""

import pathlib

from tensorboard import plugin_util
from tensorboard.backend import http_util
from tensorboard.plugins import base_plugin
from werkzeug import wrappers

from tensorboard_plugin_gates import metadata, units
from tensorboard_plugin_gates.reader import BadRequest, NotFound, Reader

_STATIC = pathlib.Path(__file__).parent / "static"
_TYPES = {".js": "text/javascript", ".css": "text/css"}

_RUN_LAYER = (("run", str), ("layer", str))
_GATE_EPOCH = (*_RUN_LAYER, ("gate", str), ("epoch", int))

# Route -> (function of a Reader, its query arguments as (name, type)).
_ROUTES = {
    "/runs": (Reader.runs, ()),
    "/layer": (Reader.layer, _RUN_LAYER),
    "/values": (Reader.values, (*_GATE_EPOCH, ("sequence", int))),
    "/saturation": (Reader.saturation, (*_RUN_LAYER, ("epoch", int))),
    "/training": (Reader.training, _RUN_LAYER),
    "/unit": (units.unit, (*_RUN_LAYER, ("gate", str), ("unit", int))),
    "/units": (units.units, _GATE_EPOCH),
    "/pattern": (
        units.pattern,
        (
            *_GATE_EPOCH,
            ("sequence", int),
            ("start", int),
            ("end", int),
            ("threshold", float),
        ),
    ),
}


class GatesPlugin(base_plugin.TBPlugin):
    """The Gates dashboard."""

    plugin_name = metadata.PLUGIN_NAME

    def __init__(self, context):
        self._provider = context.data_provider
        self._static = {
            f"/{path.name}": (path.read_bytes(), _TYPES[path.suffix])
            for path in sorted(_STATIC.iterdir())
            if path.suffix in _TYPES
        }

    def is_active(self):
        # TensorBoard enables the tab when the data provider has data
        # owned by this plugin.
        return False

    def frontend_metadata(self):
        return base_plugin.FrontendMetadata(
            es_module_path="/index.js", tab_name="Gates", disable_reload=False
        )

    def get_plugin_apps(self):
        apps = {route: self._static_app(route) for route in self._static}
        for route, (answer, arguments) in _ROUTES.items():
            apps[route] = self._json_app(answer, arguments)
        return apps

    def _static_app(self, route):
        body, content_type = self._static[route]

        @wrappers.Request.application
        def serve(request):
            return http_util.Respond(request, body, content_type)

        return serve

    def _json_app(self, answer, arguments):
        @wrappers.Request.application
        def serve(request):
            try:
                kwargs = _arguments(request.args, arguments)
                reader = Reader(
                    self._provider,
                    plugin_util.context(request.environ),
                    plugin_util.experiment_id(request.environ),
                )
                body, status = answer(reader, **kwargs), 200
            except NotFound as error:
                body, status = {"error": str(error)}, 404
            except BadRequest as error:
                body, status = {"error": str(error)}, 400
            except metadata.FormatError as error:
                body, status = {"error": str(error)}, 409
            return http_util.Respond(
                request, body, "application/json", code=status
            )

        return serve


def _arguments(query, arguments):
    """The typed query arguments a route needs; BadRequest if missing."""
    kwargs = {}
    for name, kind in arguments:
        text = query.get(name)
        if text is None:
            raise BadRequest(f"missing query argument {name!r}")
        try:
            kwargs[name] = kind(text)
        except ValueError:
            raise BadRequest(
                f"query argument {name!r} must be {kind.__name__}, got {text!r}"
            ) from None
    return kwargs
