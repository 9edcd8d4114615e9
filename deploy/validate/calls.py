"""Who may talk to whom: the calls each service declares against the NetworkPolicies.

A service declares a call to another by its address, STOREMESH_<PEER>_ADDRESS=<peer>:<port>
(collab: inventory, workforce, capacity; analytics: capacity). Under a default-deny
namespace, each service's egress to another service's gRPC port must be allowed exactly
when it declares that call: a missing allow breaks a saga in production only, an extra
one is a hole. Every service reaches NATS (4222) and PostgreSQL (5432); into a service
only its gRPC port is open (partners, DMS and the peers that declared the call).
"""

from __future__ import annotations

from collections.abc import Iterable

from deploy.validate.manifests import NAMESPACE, PEER_ADDRESS, SERVICE_PORTS, Doc, ident
from deploy.validate.objects import (
    Rendered,
    container_ports,
    env_values,
    pod_labels,
    pod_spec,
    selector_matches,
)

NATS_PORT = 4222
POSTGRES_PORT = 5432
NAMESPACE_LABELS = {"kubernetes.io/metadata.name": NAMESPACE}


def _selects(selector: Doc | None, labels: dict[str, str]) -> bool:
    return selector == {} or selector_matches(selector, labels)


def _reaches(peer: Doc, labels: dict[str, str]) -> bool:
    """Whether one `to`/`from` entry covers pods with these labels in our namespace."""
    if "ipBlock" in peer:
        return True  # pod IPs fall in some block: count it as reaching them
    namespaces = peer.get("namespaceSelector")
    if namespaces is not None and not _selects(namespaces, NAMESPACE_LABELS):
        return False
    pods = peer.get("podSelector")
    return pods is None or _selects(pods, labels)


def _port_covers(entry: Doc, port: int, named: dict[str | int, int]) -> bool:
    if "port" not in entry:
        return True
    first = named.get(entry["port"], entry["port"])
    last = entry.get("endPort", first)
    return isinstance(first, int) and isinstance(last, int) and first <= port <= last


def _policies(rendered: Rendered, kind: str, labels: dict[str, str]) -> Iterable[Doc]:
    for policy in rendered.of("NetworkPolicy"):
        spec = policy["spec"]
        if kind in spec.get("policyTypes", []) and _selects(spec.get("podSelector"), labels):
            yield policy


def egress_allowed(
    rendered: Rendered, source: dict[str, str], target: dict[str, str], port: int
) -> bool:
    """Some NetworkPolicy lets pods `source` open `port` on pods `target`."""
    for policy in _policies(rendered, "Egress", source):
        for rule in policy["spec"].get("egress") or []:
            peers = rule.get("to") or [{}]
            if any(_reaches(p, target) for p in peers) and (
                not rule.get("ports") or any(_port_covers(p, port, {}) for p in rule["ports"])
            ):
                return True
    return False


def _declared(service: Doc, rendered: Rendered, names: set[str]) -> tuple[set[str], list[str]]:
    name = service["metadata"]["name"]
    container: Doc = next(
        (c for c in pod_spec(service).get("containers", []) if c["name"] == name), {}
    )
    declared: set[str] = set()
    problems: list[str] = []
    for key, value in env_values(container, rendered).items():
        match = PEER_ADDRESS.match(key)
        if not match:
            continue
        peer = match[1].lower()
        expected = f"{peer}:{SERVICE_PORTS.get(peer)}"
        if peer not in names or value != expected:
            problems.append(
                f"{ident(service)}: {key}={value!r} is not a deployed service's address "
                f"({expected} expected)"
            )
            continue
        declared.add(peer)
    return declared, problems


def check_calls(rendered: Rendered, services: list[Doc]) -> list[str]:
    """Service-to-service egress exactly as declared; NATS and PostgreSQL for everyone;
    into a service only its gRPC port, open to every caller that declared it."""
    names = {s["metadata"]["name"] for s in services}
    problems: list[str] = []
    nats = rendered.named("StatefulSet", "nats")
    nats_labels = pod_labels(nats) if nats else {}
    clusters = sorted(rendered.names("Cluster"))
    for service in services:
        name, where, labels = service["metadata"]["name"], ident(service), pod_labels(service)
        declared, found = _declared(service, rendered, names)
        problems += found
        for other in services:
            peer = other["metadata"]["name"]
            if peer == name or peer not in SERVICE_PORTS:
                continue
            port = SERVICE_PORTS[peer]
            allowed = egress_allowed(rendered, labels, pod_labels(other), port)
            if peer in declared and not allowed:
                problems.append(
                    f"{where}: declares calls to {peer}:{port} but no NetworkPolicy allows "
                    "that egress"
                )
            if allowed and peer not in declared:
                problems.append(
                    f"{where}: NetworkPolicies let it reach {peer}:{port}, a call it does not "
                    f"declare (STOREMESH_{peer.upper()}_ADDRESS)"
                )
            if peer in declared and not _ingress_admits(rendered, other, labels, port):
                problems.append(f"{ident(other)}: ingress on {port} does not admit {name}")
        if nats is None or not egress_allowed(rendered, labels, nats_labels, NATS_PORT):
            problems.append(f"{where}: no NetworkPolicy lets it reach NATS on {NATS_PORT}")
        if not any(
            egress_allowed(rendered, labels, {"cnpg.io/cluster": c}, POSTGRES_PORT)
            for c in clusters
        ):
            problems.append(f"{where}: no NetworkPolicy lets it reach PostgreSQL on 5432")
        problems += _ingress_only_grpc(rendered, service)
    return problems


def _ingress_admits(rendered: Rendered, target: Doc, source: dict[str, str], port: int) -> bool:
    named = container_ports(pod_spec(target))
    for policy in _policies(rendered, "Ingress", pod_labels(target)):
        for rule in policy["spec"].get("ingress") or []:
            peers = rule.get("from") or [{}]
            if any(_reaches(p, source) for p in peers) and (
                not rule.get("ports") or any(_port_covers(p, port, named) for p in rule["ports"])
            ):
                return True
    return False


def _ingress_only_grpc(rendered: Rendered, service: Doc) -> list[str]:
    name = service["metadata"]["name"]
    port = SERVICE_PORTS.get(name)
    named = container_ports(pod_spec(service))
    problems: list[str] = []
    opened = False
    for policy in _policies(rendered, "Ingress", pod_labels(service)):
        for rule in policy["spec"].get("ingress") or []:
            entries = rule.get("ports") or []
            ports = [named.get(e.get("port"), e.get("port")) for e in entries]
            if not ports or any(
                p != port or "endPort" in e for p, e in zip(ports, entries, strict=True)
            ):
                problems.append(
                    f"{ident(service)}: {ident(policy)} opens ports {ports or 'all'} into it; "
                    f"only its gRPC port {port} may be open"
                )
            opened = opened or port in ports
    if not opened:
        problems.append(f"{ident(service)}: no NetworkPolicy opens its gRPC port {port}")
    return problems
