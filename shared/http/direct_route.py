"""A FastAPI route whose endpoint is called with the request alone, for a route that carries the load.

FastAPI's own handler solves the endpoint's dependencies, reads and checks
its parameters and serialises what it returns, on every request. Measured
side by side (docs/performance.md, round 12: the same validation of the same
record, server CPU per POST): 298-323 µs as a FastAPI endpoint taking the
`Request`, 219-249 µs on this route class. An endpoint on `DirectRoute` takes
the `Request` and returns a `Response`: it checks its key and reads its body
itself, and FastAPI calls it directly. Everything around the endpoint stays
FastAPI's: the middlewares, the exception handlers (a `ProblemError` raised
in it is a problem document), and the OpenAPI operation, built from the
route's declaration (`openapi_extra` describes the body, which no parameter
declares).

A dependency would never run, so a route that has one (its own, its
router's, or one given to `include_router`) is refused: at declaration, or,
for `include_router`'s, at the first request, which fails rather than skip
the check. That last one is read from FastAPI's private context variable, as
FastAPI itself reads it; a FastAPI upgrade that moves it fails the tests.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, cast

import fastapi.routing
from fastapi import Request
from fastapi.routing import APIRoute
from starlette.responses import Response

Endpoint = Callable[[Request], Awaitable[Response]]


class DirectRoute(APIRoute):
    """Use with `APIRouter.add_api_route(..., route_class_override=DirectRoute)` for `async def f(request)`."""

    def get_route_handler(self) -> Callable[[Request], Any]:
        dependant = self.dependant
        # FastAPI builds the handler again for each inclusion of the route's router, with the dependencies
        # given to include_router in the inclusion's dependant (read as FastAPI itself reads it; tested)
        included = fastapi.routing._effective_route_context_var.get()
        if included is not None and included.original_route is self:
            dependant = included.dependant
        declared = [*dependant.dependencies, *dependant.path_params, *dependant.query_params]
        declared += [*dependant.header_params, *dependant.cookie_params, *dependant.body_params]
        if declared or dependant.request_param_name is None:
            # a dependency here (the router's too: a key check) would never run: refuse to build the route
            raise TypeError(f"{self.path}: a DirectRoute endpoint takes the Request alone, with no dependencies")
        return cast(Endpoint, self.endpoint)
