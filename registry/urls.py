"""Which URLs the service accepts: callbacks it POSTs to, and links it shows to parents.

A callback URL makes this server send requests on a caller's behalf: left open, an API key
could make it reach the loopback, the cloud metadata service or the office network
(server-side request forgery). So callbacks go only to https URLs of public hosts, checked
when registered and again, after DNS resolution, when sent (a name may resolve elsewhere
later: DNS rebinding). Links for parents are https only. An operator may allow named hosts
(`HAGUKUMI_CALLBACK_ALLOW`, for tests and on-premises backends): those may use http and
private addresses.
"""

from __future__ import annotations

import ipaddress
import socket
from dataclasses import dataclass
from typing import Any
from urllib.parse import SplitResult, urlsplit

from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.resolver import DefaultResolver
from pydantic import ValidationInfo

ALLOW_SETTING = "HAGUKUMI_CALLBACK_ALLOW"
CONTEXT_KEY = "url_policy"  # the pydantic validation context entry holding the UrlPolicy

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


@dataclass(frozen=True)
class UrlPolicy:
    """The hosts an operator allows beyond public https ones (lower-case names or addresses)."""

    allowed_hosts: frozenset[str] = frozenset()

    @classmethod
    def parse(cls, value: str | None) -> UrlPolicy:
        """From the setting: host names or addresses separated by commas."""
        hosts = {_normal(part) for part in (value or "").split(",")}
        return cls(frozenset(hosts - {""}))

    def allows(self, host: str) -> bool:
        """Whether the operator allowed this host (http and private addresses included)."""
        return _normal(host) in self.allowed_hosts


STRICT = UrlPolicy()
"""No host allowed beyond public https ones: the default."""


def _normal(host: str) -> str:
    return host.strip().lower().strip("[]").rstrip(".")


def policy_of(info: ValidationInfo | None) -> UrlPolicy | None:
    """The policy handed to pydantic in the validation context, if any."""
    context = info.context if info is not None else None
    if isinstance(context, dict):
        policy = context.get(CONTEXT_KEY)
        if isinstance(policy, UrlPolicy):
            return policy
    return None


def _parts(url: str, field: str) -> tuple[SplitResult, str]:
    if any(ch.isspace() or ord(ch) < 32 or ord(ch) == 127 for ch in url):
        raise ValueError(f"{field} must not contain spaces or control characters")
    try:
        parts = urlsplit(url)
        host = parts.hostname
        _ = parts.port  # raises ValueError for a port out of range
    except ValueError as exc:
        raise ValueError(f"{field} is not a URL: {exc}") from exc
    if parts.scheme not in {"https", "http"} or not host:
        raise ValueError(f"{field} must be an absolute https:// URL")
    if parts.username is not None or parts.password is not None:
        raise ValueError(f"{field} must not carry credentials")
    return parts, host


def literal_address(host: str) -> IPAddress | None:
    """The address a host names literally, including legacy IPv4 forms (127.1, 2130706433)."""
    name = _normal(host)
    try:
        return ipaddress.ip_address(name)
    except ValueError:
        pass
    try:
        return ipaddress.IPv4Address(socket.inet_aton(name))
    except (OSError, ValueError):
        return None


def address_refusal(address: IPAddress) -> str | None:
    """Why a callback may not go to this address (None: a public unicast address)."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    if address.is_loopback:
        return "a loopback address"
    if address.is_link_local:
        return "a link-local address"
    if address.is_private:
        return "a private address"
    if address.is_multicast or address.is_unspecified or not address.is_global:
        return "not a public address"
    return None


def host_refusal(host: str) -> str | None:
    """Why a callback may not go to this host as written (names are checked again, resolved)."""
    name = _normal(host)
    if name == "localhost" or name.endswith(".localhost"):
        return "localhost"
    address = literal_address(name)
    return address_refusal(address) if address is not None else None


def check_callback_url(url: str, policy: UrlPolicy = STRICT) -> str:
    """An https URL of a public host (or any URL of a host the operator allowed)."""
    parts, host = _parts(url, "callback_url")
    if policy.allows(host):
        return url
    if parts.scheme != "https":
        # Callbacks carry notices about a family: never in clear text over a network.
        raise ValueError(f"callback_url must use https (or list the host in {ALLOW_SETTING})")
    refusal = host_refusal(host)
    if refusal is not None:
        raise ValueError(
            f"callback_url must reach a public host, not {refusal} "
            f"(an operator may allow it in {ALLOW_SETTING})"
        )
    return url


def check_parent_url(url: str, policy: UrlPolicy | None, field: str = "url") -> str:
    """A link shown to parents: https (http only for a host the operator allowed).

    Without a policy (stored programs read back) plain http stays readable; every request to
    the API is checked with one.
    """
    parts, host = _parts(url, field)
    if parts.scheme != "https" and policy is not None and not policy.allows(host):
        raise ValueError(f"{field} must be an https:// URL")
    return url


def callback_url_validator(value: str, info: ValidationInfo) -> str:
    """Pydantic after-validator of callback URLs (the strict policy unless one is given)."""
    return check_callback_url(value, policy_of(info) or STRICT)


def parent_url_validator(value: str | None, info: ValidationInfo) -> str | None:
    """Pydantic after-validator of links for parents."""
    if value is None:
        return None
    return check_parent_url(value, policy_of(info), info.field_name or "url")


class RefusedAddress(OSError):
    """A callback host resolved only to addresses callbacks may not reach."""


class GuardedResolver(AbstractResolver):
    """DNS resolution that drops non-public addresses of hosts the operator did not allow."""

    def __init__(self, policy: UrlPolicy, inner: AbstractResolver | None = None) -> None:
        self.policy = policy
        self._inner = inner

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        """Resolve, then keep only public addresses (all of them for an allowed host)."""
        if self._inner is None:
            self._inner = DefaultResolver()
        found = await self._inner.resolve(host, port, family)
        if self.policy.allows(host):
            return found
        if host_refusal(host) is not None:
            raise RefusedAddress(f"callback host refused: {host_refusal(host)}")
        kept = [r for r in found if _public(r["host"])]
        if not kept:
            raise RefusedAddress("callback host resolves only to non-public addresses")
        return kept

    async def close(self) -> None:
        """Close the resolver underneath."""
        if self._inner is not None:
            await self._inner.close()


def _public(address: Any) -> bool:
    try:
        return address_refusal(ipaddress.ip_address(str(address).split("%")[0])) is None
    except ValueError:
        return False
