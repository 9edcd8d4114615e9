"""Reading rendered objects: pods, containers, selectors, environment, ports."""

from __future__ import annotations

from collections.abc import Iterator

from deploy.validate.manifests import Doc

# --------------------------------------------------------------------------- helpers


class Rendered:
    """The documents of one overlay, indexed the way the checks need them."""

    def __init__(self, docs: list[Doc]) -> None:
        self.docs = docs
        self.by_kind: dict[str, list[Doc]] = {}
        for doc in docs:
            self.by_kind.setdefault(doc["kind"], []).append(doc)

    def of(self, *kinds: str) -> list[Doc]:
        return [doc for kind in kinds for doc in self.by_kind.get(kind, [])]

    def named(self, kind: str, name: str) -> Doc | None:
        for doc in self.by_kind.get(kind, []):
            if doc["metadata"].get("name") == name:
                return doc
        return None

    def names(self, kind: str) -> set[str]:
        return {doc["metadata"]["name"] for doc in self.by_kind.get(kind, [])}


def pod_spec(workload: Doc) -> Doc:
    spec: Doc = workload.get("spec", {}).get("template", {}).get("spec", {})
    return spec


def pod_labels(workload: Doc) -> dict[str, str]:
    labels: dict[str, str] = (
        workload.get("spec", {}).get("template", {}).get("metadata", {}).get("labels", {})
    )
    return labels


def containers(spec: Doc, *, init: bool = True) -> Iterator[Doc]:
    if init:
        yield from spec.get("initContainers", [])
    yield from spec.get("containers", [])


def selector_matches(selector: Doc | None, labels: dict[str, str]) -> bool:
    """Label-selector semantics, matchLabels and matchExpressions."""
    if not selector:
        return False
    for key, value in selector.get("matchLabels", {}).items():
        if labels.get(key) != value:
            return False
    for expression in selector.get("matchExpressions", []):
        key, operator = expression["key"], expression["operator"]
        values = expression.get("values", [])
        if operator == "In" and labels.get(key) not in values:
            return False
        if operator == "NotIn" and labels.get(key) in values:
            return False
        if operator == "Exists" and key not in labels:
            return False
        if operator == "DoesNotExist" and key in labels:
            return False
    return True


def service_selects(service: Doc, labels: dict[str, str]) -> bool:
    selector = service.get("spec", {}).get("selector")
    return bool(selector) and selector_matches({"matchLabels": selector}, labels)


def env_names_from(container: Doc, rendered: Rendered) -> set[str]:
    """Variables a container gets from envFrom config maps (secrets: unknown keys)."""
    names: set[str] = set()
    for source in container.get("envFrom", []):
        ref = source.get("configMapRef")
        if ref:
            config_map = rendered.named("ConfigMap", ref.get("name", ""))
            if config_map:
                prefix = source.get("prefix", "")
                names |= {prefix + key for key in config_map.get("data", {})}
    return names


def env_values(container: Doc, rendered: Rendered) -> dict[str, str | None]:
    """Every variable the container sees; None where the value comes from a secret."""
    values: dict[str, str | None] = {}
    for source in container.get("envFrom", []):
        ref = source.get("configMapRef")
        if ref:
            config_map = rendered.named("ConfigMap", ref.get("name", ""))
            for key, value in (config_map or {}).get("data", {}).items():
                values[source.get("prefix", "") + key] = value
    for entry in container.get("env", []):
        values[entry["name"]] = entry.get("value") if "valueFrom" not in entry else None
    return values


def image_problem(image: str) -> str | None:
    if "@sha256:" in image:
        return None
    last = image.rsplit("/", 1)[-1]
    if ":" not in last:
        return f"image {image!r} has no tag: pin a release tag or digest"
    if last.rsplit(":", 1)[1] == "latest":
        return f"image {image!r} uses :latest: pin a release tag or digest"
    return None


def container_ports(spec: Doc) -> dict[str | int, int]:
    ports: dict[str | int, int] = {}
    for container in containers(spec, init=False):
        for port in container.get("ports", []):
            ports[port["containerPort"]] = port["containerPort"]
            if "name" in port:
                ports[port["name"]] = port["containerPort"]
    return ports
