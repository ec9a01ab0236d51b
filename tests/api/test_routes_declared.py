"""Every route declares who may call it; an undeclared route fails here."""

from __future__ import annotations

from starlette.routing import Mount, Route

from tests.api.conftest import Service
from watchkeeper.api.security import AccessKind, api_routes, declared_access

# Framework routes that serve no data: the API description and the console's CSS.
UNDECLARED_ALLOWED = {"/openapi.json", "/docs", "/docs/oauth2-redirect", "/redoc", "/static"}
EXPECTED_PUBLIC = {
    ("GET", "/healthz"),
    ("POST", "/api/auth/login"),
    ("GET", "/signin"),
    ("POST", "/signin"),
}


def test_every_route_declares_its_access(service: Service) -> None:
    routes = api_routes(service.app.routes)
    assert len(routes) >= 10
    undeclared = [f"{sorted(r.methods)} {r.path}" for r in routes if not declared_access(r)]
    assert undeclared == []
    declared_paths = {r.path for r in routes}
    for route in service.app.routes:
        if isinstance(route, Route | Mount) and route.path not in declared_paths:
            assert route.path in UNDECLARED_ALLOWED, f"{route.path} declares no access"


def test_only_the_expected_routes_are_public(service: Service) -> None:
    public = {
        (method, route.path)
        for route in api_routes(service.app.routes)
        for method in route.methods
        if any(a.kind is AccessKind.PUBLIC for a in declared_access(route))
    }
    assert public == EXPECTED_PUBLIC


def test_openapi_document_names_each_routes_access(service: Service) -> None:
    response = service.client.get("/openapi.json")
    assert response.status_code == 200
    paths = response.json()["paths"]
    assert paths["/api/detect"]["post"]["x-access"].startswith("needs gallery.enrol")
    assert paths["/healthz"]["get"]["x-access"].startswith("public")
    for path, operations in paths.items():
        for method, operation in operations.items():
            assert operation.get("x-access", "none") != "none", f"{method} {path}"
