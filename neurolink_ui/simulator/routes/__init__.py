"""The simulator's routes, one module per resource as Replicate's API is split.

Each module exposes `routes` (its Starlette `Route`s); handlers read the shared `SimState` from
the app (`common.sim_state(request)`), never from a closure.
"""

from __future__ import annotations

from starlette.routing import Route

from . import (
    account,
    control,
    delivery,
    deployments,
    discovery,
    files,
    models,
    predictions,
    streams,
)

ROUTES: list[Route] = [
    *predictions.routes,
    *models.routes,
    *deployments.routes,
    *discovery.routes,
    *files.routes,
    *account.routes,
    *streams.routes,
    *delivery.routes,
    *control.routes,
]
