"""`python -m services.routing`: serve routing with uvicorn."""

from services.routing.settings import RoutingSettings
from shared.serving import serve

if __name__ == "__main__":
    serve("services.routing.bootstrap:create_app", RoutingSettings())
