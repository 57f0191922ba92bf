"""The cookies PopFlow's pages give a browser: a session's token, a login form's CSRF token.

Every one is HttpOnly (no script reads it) and SameSite=Strict (no other site's
form or link sends it). Outside development it is Secure too, and its name
takes the prefix that browsers hold it to:
- `__Host-` for a cookie of the whole site (path /): a browser keeps it only if
  it came over HTTPS from this very host, with no Domain. A page of a sibling
  subdomain (another office's system under the same city domain) or of a plain
  HTTP address cannot plant one in its place, so it cannot log a clerk into a
  session of its choosing or pass a login form's check with a token it set.
- `__Secure-` for a cookie of a narrower path (a `__Host-` cookie must have path
  /): a browser keeps it only if it came over HTTPS with Secure set.
In development (plain HTTP on 127.0.0.1) the bare name, since a browser refuses
a prefixed cookie without Secure.
"""

from __future__ import annotations

from dataclasses import dataclass

from starlette.requests import Request
from starlette.responses import Response


@dataclass(frozen=True, slots=True)
class BrowserCookie:
    base: str  # the name without its prefix
    path: str
    secure: bool

    @property
    def name(self) -> str:
        if not self.secure:
            return self.base
        return f"__Host-{self.base}" if self.path == "/" else f"__Secure-{self.base}"

    def set(self, response: Response, value: str, *, max_age: int) -> None:
        response.set_cookie(
            self.name, value, max_age=max_age, path=self.path, httponly=True, secure=self.secure, samesite="strict"
        )

    def read(self, request: Request) -> str:
        return request.cookies.get(self.name, "")

    def delete(self, response: Response) -> None:
        """Gone from the browser: a prefixed cookie is only replaced by one with the same attributes."""
        response.delete_cookie(self.name, path=self.path, httponly=True, secure=self.secure, samesite="strict")
