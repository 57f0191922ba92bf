"""A Set-Cookie header read as a browser reads it: the name, the value and the attributes."""

from __future__ import annotations

from dataclasses import dataclass
from http.cookies import SimpleCookie


@dataclass(frozen=True, slots=True)
class SetCookie:
    name: str
    value: str
    path: str
    domain: str
    max_age: str
    secure: bool
    httponly: bool
    samesite: str

    @classmethod
    def parse(cls, header: str) -> SetCookie:
        jar = SimpleCookie()
        jar.load(header)
        [(name, morsel)] = jar.items()
        return cls(
            name,
            morsel.value,
            morsel["path"],
            morsel["domain"],
            str(morsel["max-age"]),
            bool(morsel["secure"]),
            bool(morsel["httponly"]),
            str(morsel["samesite"]).lower(),
        )

    @property
    def host_only(self) -> bool:
        """What a browser requires of a `__Host-` cookie: Secure, path / and no Domain."""
        return self.name.startswith("__Host-") and self.secure and self.path == "/" and not self.domain
