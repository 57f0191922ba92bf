"""The cookies PopFlow's pages give a browser: a session's token, a login form's CSRF token.

Every one is HttpOnly (no script reads it) and SameSite=Strict (no other site's
form or link sends it), for the whole site (path /). Outside development it is
Secure too, and named `__Host-...`: a browser keeps such a cookie only if this
very host sent it over HTTPS, with path / and no Domain. A page of a sibling
subdomain (another system under the city's domain, over HTTPS too) could
otherwise set the cookie for the parent domain: log a clerk into a session of
its choosing, or pass a login form's double-submit check with a token it set.
`__Secure-` would not stop that (it allows a Domain), and `__Host-` needs path
/, hence one path for all. In development (plain HTTP on 127.0.0.1) the bare
name, since a browser refuses a prefixed cookie without Secure.
"""

from __future__ import annotations

from dataclasses import dataclass

from starlette.requests import Request
from starlette.responses import Response

PATH = "/"


@dataclass(frozen=True, slots=True)
class BrowserCookie:
    base: str  # the name without its prefix
    secure: bool

    @property
    def name(self) -> str:
        return f"__Host-{self.base}" if self.secure else self.base

    def set(self, response: Response, value: str, *, max_age: int) -> None:
        response.set_cookie(
            self.name, value, max_age=max_age, path=PATH, httponly=True, secure=self.secure, samesite="strict"
        )

    def read(self, request: Request) -> str:
        return request.cookies.get(self.name, "")

    def delete(self, response: Response) -> None:
        """Gone from the browser: a prefixed cookie is only replaced by one with the same attributes."""
        response.delete_cookie(self.name, path=PATH, httponly=True, secure=self.secure, samesite="strict")
