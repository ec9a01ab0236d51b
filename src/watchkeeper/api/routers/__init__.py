"""One router per resource; each route declares its access (see ``watchkeeper.api.security``)."""
