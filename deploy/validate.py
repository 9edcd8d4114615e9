"""Render every kustomize overlay and check what it would apply, offline.

    python -m deploy.validate [OVERLAY ...]     (default: every deploy/k8s/overlays/*)

Each overlay is rendered twice: as it is, and as "<env>+collaboration", a temporary copy with
the not-yet-enabled components/collaboration (collab and analytics) enabled, so that
component stays ready for the day those services exist. For each document that
`kubectl kustomize` renders:

1. built-in kinds are validated against the Kubernetes 1.30 OpenAPI schemas in strict
   mode (unknown fields are errors) with kubernetes-validate;
2. custom resources (CloudNativePG) are validated with jsonschema against
   deploy/schemas/<group>_<version>_<Kind>.json, closed schemas of the fields we use;
3. house rules that no schema expresses: restricted security context, requests and
   limits, probes (native grpc, or storemesh-healthcheck when the service requires
   mTLS), a PodDisruptionBudget and a Service for every workload, autoscalers that point
   at something, references to config maps, secrets, volumes and service accounts that
   resolve, one database per service, service Deployments only for services that exist in
   this repository (services/<name>/__main__.py), and a nats.conf that `nats-server -t`
   accepts (when a nats-server binary is at hand: beside this Python, or on PATH).

validate_all() returns the problems as strings, empty when everything passes; main()
prints them and exits 1 if there are any.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterable, Iterator
from functools import cache
from pathlib import Path
from typing import Any

import yaml

Doc = dict[str, Any]

KUBERNETES_VERSION = "1.30.0"
DEPLOY_DIR = Path(__file__).resolve().parent
REPO_DIR = DEPLOY_DIR.parent
K8S_DIR = DEPLOY_DIR / "k8s"
OVERLAYS_DIR = K8S_DIR / "overlays"
SCHEMAS_DIR = DEPLOY_DIR / "schemas"
NAMESPACE = "storemesh"

# The fixed contract: one image, one gRPC port per service.
SERVICE_PORTS = {
    "inventory": 50051,
    "workforce": 50052,
    "capacity": 50053,
    "collab": 50054,
    "analytics": 50055,
}
# What every overlay deploys: the services that exist in this repository.
SERVICES = ("inventory", "workforce", "capacity")
# Written in components/collaboration but enabled in no overlay until services/collab and
# services/analytics exist; checked in "<overlay>+collaboration" renders only.
STAGED_COMPONENT = "collaboration"
STAGED_SERVICES = ("collab", "analytics")
SERVICE_COMPONENT = "grpc-service"
HEALTHCHECK_COMMAND = "storemesh-healthcheck"
REQUIRED_SERVICE_ENV = (
    "STOREMESH_DATABASE_URL",
    "STOREMESH_NATS_URL",
    "STOREMESH_GRPC_ADDRESS",
    "STOREMESH_JWT_PUBLIC_KEY_FILE",
    "STOREMESH_OTEL_EXPORTER",
    "STOREMESH_LOG_LEVEL",
)
COLLAB_PEERS = {
    "STOREMESH_INVENTORY_ADDRESS": "inventory",
    "STOREMESH_WORKFORCE_ADDRESS": "workforce",
    "STOREMESH_CAPACITY_ADDRESS": "capacity",
}
# Environment variables holding a path that must lie on a mounted volume.
FILE_ENV = re.compile(r"^(STOREMESH_\w+_FILE|PGSSLROOTCERT|PGSSLCERT|PGSSLKEY)$")
DATABASE_URL = re.compile(
    r"^postgresql\+psycopg://[^@/]+@(?P<host>[^:/?]+)(?::(?P<port>\d+))?/(?P<db>[^?/]+)(?:\?.*)?$"
)
VAR_REF = re.compile(r"(?<!\$)\$\(([A-Za-z_][A-Za-z0-9_]*)\)")

# Secrets made outside kustomize: by the CloudNativePG operator (<cluster>-app,
# <cluster>-ca) or by whoever installs (docs/operations.md, "Secrets to create").
# Plus "<service>-tls" for each service deployed.
EXTERNAL_SECRETS = frozenset({"storemesh-pg-app", "storemesh-pg-ca", "storemesh-jwt"})
CLUSTER_SCOPED_KINDS = frozenset(
    {
        "Namespace",
        "ClusterRole",
        "ClusterRoleBinding",
        "CustomResourceDefinition",
        "PriorityClass",
        "StorageClass",
        "PersistentVolume",
    }
)
WORKLOAD_KINDS = ("Deployment", "StatefulSet")


class RenderError(Exception):
    """kustomize could not produce the documents to check."""


# --------------------------------------------------------------------------- rendering


def overlay_names() -> list[str]:
    return sorted(
        path.name for path in OVERLAYS_DIR.iterdir() if (path / "kustomization.yaml").is_file()
    )


def render(overlay: str) -> list[Doc]:
    """The documents `kubectl kustomize` renders for one overlay."""
    return render_dir(OVERLAYS_DIR / overlay)


def render_staged(overlay: str) -> list[Doc]:
    """One overlay rendered with components/collaboration enabled, from a temporary copy.

    The component goes before components/tls (whose patches must reach its Deployments) and
    its tls part right after tls, where the overlay enables tls: the order
    components/collaboration/README.md asks for.
    """
    with tempfile.TemporaryDirectory(prefix="storemesh-k8s-") as tmp:
        k8s = Path(tmp) / "k8s"
        shutil.copytree(K8S_DIR, k8s)
        path = k8s / "overlays" / overlay / "kustomization.yaml"
        try:
            kustomization = yaml.safe_load(path.read_text())
        except (OSError, yaml.YAMLError) as error:
            raise RenderError(f"cannot read {overlay}/kustomization.yaml: {error}") from error
        components = list(kustomization.get("components") or [])
        component = f"../../components/{STAGED_COMPONENT}"
        tls = "../../components/tls"
        if component in components:
            pass  # enabled already: this render is the overlay itself
        elif tls in components:
            at = components.index(tls)
            components[at : at + 1] = [component, tls, f"{component}/tls"]
        else:
            components.append(component)
        kustomization["components"] = components
        path.write_text(yaml.safe_dump(kustomization, sort_keys=False))
        return render_dir(path.parent)


def render_dir(directory: Path) -> list[Doc]:
    """The documents `kubectl kustomize` renders for one kustomization directory."""
    kubectl = os.environ.get("KUBECTL") or shutil.which("kubectl")
    if kubectl is None:
        raise RenderError("kubectl not found on PATH (or set KUBECTL)")
    try:
        result = subprocess.run(
            [kubectl, "kustomize", str(directory)],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as error:
        raise RenderError(f"kubectl kustomize could not run: {error}") from error
    if result.returncode != 0:
        raise RenderError(f"kubectl kustomize failed: {result.stderr.strip()}")
    try:
        docs = [doc for doc in yaml.safe_load_all(result.stdout) if doc is not None]
    except yaml.YAMLError as error:
        raise RenderError(f"rendered output is not YAML: {error}") from error
    for doc in docs:
        if not isinstance(doc, dict) or "kind" not in doc or "apiVersion" not in doc:
            raise RenderError(f"rendered a document without kind/apiVersion: {doc!r:.200}")
    return docs


# --------------------------------------------------------------------------- schemas


def ident(doc: Doc) -> str:
    return f"{doc.get('kind')}/{doc.get('metadata', {}).get('name', '?')}"


def _json_path(parts: Iterable[Any]) -> str:
    return ".".join(str(part) for part in parts) or "(root)"


def custom_schema_path(doc: Doc) -> Path:
    group_version = str(doc["apiVersion"]).replace("/", "_")
    return SCHEMAS_DIR / f"{group_version}_{doc['kind']}.json"


@cache
def _custom_validator(path: Path) -> Any:
    import jsonschema

    schema = json.loads(path.read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


def check_schema(doc: Doc) -> list[str]:
    """Problems found by the Kubernetes schema, or our schema for a custom resource."""
    schema_path = custom_schema_path(doc)
    if schema_path.is_file():
        errors = sorted(_custom_validator(schema_path).iter_errors(doc), key=lambda e: list(e.path))
        return [
            f"{ident(doc)}: {schema_path.name}: {_json_path(e.path)}: {e.message}" for e in errors
        ]
    import kubernetes_validate

    try:
        kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)
    except kubernetes_validate.ValidationError as error:
        return [
            f"{ident(doc)}: schema {KUBERNETES_VERSION}: {_json_path(error.path)}: {error.message}"
        ]
    except kubernetes_validate.SchemaNotFoundError:
        return [
            f"{ident(doc)}: no schema for {doc['apiVersion']} {doc['kind']}: neither Kubernetes "
            f"{KUBERNETES_VERSION} nor deploy/schemas/{schema_path.name}"
        ]
    return []


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


# --------------------------------------------------------------------------- house rules


def check_pod_security(workload: Doc) -> list[str]:
    """Pod Security Standard "restricted", resources, pinned images, probes."""
    problems: list[str] = []
    where = ident(workload)
    spec = pod_spec(workload)
    pod_sc = spec.get("securityContext", {})
    for flag in ("hostNetwork", "hostPID", "hostIPC"):
        if spec.get(flag):
            problems.append(f"{where}: {flag} is not allowed")
    for volume in spec.get("volumes", []):
        if "hostPath" in volume:
            problems.append(f"{where}: volume {volume['name']} is a hostPath")
    for container in containers(spec):
        at = f"{where}: container {container['name']}"
        sc = container.get("securityContext", {})
        if sc.get("allowPrivilegeEscalation") is not False:
            problems.append(f"{at}: securityContext.allowPrivilegeEscalation must be false")
        if sc.get("readOnlyRootFilesystem") is not True:
            problems.append(f"{at}: securityContext.readOnlyRootFilesystem must be true")
        if sc.get("privileged"):
            problems.append(f"{at}: privileged containers are not allowed")
        capabilities = sc.get("capabilities", {})
        if "ALL" not in capabilities.get("drop", []):
            problems.append(f"{at}: securityContext.capabilities.drop must include ALL")
        added = set(capabilities.get("add", [])) - {"NET_BIND_SERVICE"}
        if added:
            problems.append(f"{at}: capabilities added beyond NET_BIND_SERVICE: {sorted(added)}")
        if sc.get("runAsNonRoot", pod_sc.get("runAsNonRoot")) is not True:
            problems.append(f"{at}: runAsNonRoot must be true (container or pod)")
        if sc.get("runAsUser", pod_sc.get("runAsUser")) == 0:
            problems.append(f"{at}: runAsUser must not be 0")
        seccomp = sc.get("seccompProfile", pod_sc.get("seccompProfile", {}))
        if seccomp.get("type") != "RuntimeDefault":
            problems.append(f"{at}: seccompProfile.type must be RuntimeDefault")
        resources = container.get("resources", {})
        for kind in ("requests", "limits"):
            for resource in ("cpu", "memory"):
                if resource not in resources.get(kind, {}):
                    problems.append(f"{at}: no {resource} {kind[:-1]}")
        problem = image_problem(str(container.get("image", "")))
        if problem:
            problems.append(f"{at}: {problem}")
    for container in containers(spec, init=False):
        for probe in ("readinessProbe", "livenessProbe"):
            if probe not in container:
                problems.append(f"{where}: container {container['name']}: no {probe}")
    return problems


def _probe_problem(probe: Doc | None, port: int, tls: bool) -> str | None:
    if probe is None:
        return "missing"
    if "grpc" in probe:
        if tls:
            return "native grpc probes cannot do mTLS: use exec storemesh-healthcheck"
        if probe["grpc"].get("port") != port:
            return f"grpc probe on port {probe['grpc'].get('port')!r}, service port is {port}"
        return None
    command = probe.get("exec", {}).get("command", [])
    if command[:1] == [HEALTHCHECK_COMMAND]:
        if not tls:
            return "use the native grpc probe when the service is not on TLS"
        return None
    return "must be a grpc probe (or exec storemesh-healthcheck under mTLS)"


def check_storemesh_service(deployment: Doc, rendered: Rendered) -> list[str]:
    """The contract between the manifests and the Python services."""
    name = deployment["metadata"]["name"]
    where = ident(deployment)
    if name not in SERVICE_PORTS:
        return [f"{where}: labelled {SERVICE_COMPONENT} but not one of {sorted(SERVICE_PORTS)}"]
    port = SERVICE_PORTS[name]
    spec = pod_spec(deployment)
    container = next((c for c in spec.get("containers", []) if c["name"] == name), None)
    if container is None:
        return [f"{where}: no container named {name}"]
    at = f"{where}: container {name}"
    problems: list[str] = []

    if container.get("command") != ["python", "-m", f"services.{name}"]:
        problems.append(f"{at}: command must be python -m services.{name}")
    grpc_ports = [p for p in container.get("ports", []) if p.get("name") == "grpc"]
    if [p["containerPort"] for p in grpc_ports] != [port]:
        problems.append(f"{at}: needs one port named grpc = {port}")

    env = env_values(container, rendered)
    for key in REQUIRED_SERVICE_ENV:
        if key not in env:
            problems.append(f"{at}: {key} is not set")
    if name == "collab":
        for key, peer in COLLAB_PEERS.items():
            expected = f"{peer}:{SERVICE_PORTS[peer]}"
            if env.get(key) != expected:
                problems.append(f"{at}: {key} is {env.get(key)!r}, expected {expected!r}")
    address = env.get("STOREMESH_GRPC_ADDRESS") or ""
    if not address.endswith(f":{port}"):
        problems.append(f"{at}: STOREMESH_GRPC_ADDRESS {address!r} is not on port {port}")
    exporter = env.get("STOREMESH_OTEL_EXPORTER")
    if exporter not in ("otlp", "console", "none"):
        problems.append(f"{at}: STOREMESH_OTEL_EXPORTER {exporter!r} not otlp|console|none")
    if exporter == "otlp" and not env.get("OTEL_EXPORTER_OTLP_ENDPOINT"):
        problems.append(f"{at}: STOREMESH_OTEL_EXPORTER=otlp without OTEL_EXPORTER_OTLP_ENDPOINT")

    # $(VAR) expands only from variables defined earlier (envFrom counts as earlier).
    defined = env_names_from(container, rendered)
    for entry in container.get("env", []):
        for ref in VAR_REF.findall(entry.get("value", "")):
            if ref not in defined:
                problems.append(f"{at}: {entry['name']} uses $({ref}) before it is defined")
        defined.add(entry["name"])

    # File paths must be on a mounted volume.
    mounts = [m["mountPath"].rstrip("/") + "/" for m in container.get("volumeMounts", [])]
    for key, value in env.items():
        if FILE_ENV.match(key) and value and not any(value.startswith(m) for m in mounts):
            problems.append(f"{at}: {key}={value} is not on any volume mount")

    tls = bool(env.get("STOREMESH_TLS_CERT_FILE"))
    for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
        problem = _probe_problem(container.get(probe), port, tls)
        if problem:
            problems.append(f"{at}: {probe}: {problem}")
    return problems


def check_databases(services: list[Doc], rendered: Rendered) -> list[str]:
    """Each service's URL names the cluster's rw Service and a database of its own."""
    problems: list[str] = []
    clusters = rendered.names("Cluster")
    databases = {
        (doc["spec"].get("cluster", {}).get("name"), doc["spec"].get("name"))
        for doc in rendered.of("Database")
        if doc["spec"].get("ensure", "present") == "present"
    }
    owners: dict[str, str] = {}
    for deployment in services:
        name = deployment["metadata"]["name"]
        container = next(
            (c for c in pod_spec(deployment).get("containers", []) if c["name"] == name), None
        )
        if container is None:
            continue
        url = env_values(container, rendered).get("STOREMESH_DATABASE_URL") or ""
        match = DATABASE_URL.match(url)
        if not match:
            problems.append(
                f"{ident(deployment)}: STOREMESH_DATABASE_URL is not "
                "postgresql+psycopg://user:password@host[:port]/database"
            )
            continue
        host, db = match["host"], match["db"]
        cluster = host.split(".", 1)[0].removesuffix("-rw")
        if not host.split(".", 1)[0].endswith("-rw") or cluster not in clusters:
            problems.append(
                f"{ident(deployment)}: database host {host!r} is not the -rw Service of a "
                f"CloudNativePG Cluster here ({sorted(clusters)})"
            )
        elif (cluster, db) not in databases:
            problems.append(
                f"{ident(deployment)}: no Database resource creates {db!r} in {cluster!r}"
            )
        if db in owners:
            problems.append(f"{ident(deployment)}: shares database {db!r} with {owners[db]}")
        owners[db] = name
    for doc in rendered.of("Database"):
        if doc["spec"].get("cluster", {}).get("name") not in clusters:
            problems.append(f"{ident(doc)}: cluster {doc['spec'].get('cluster')} is not rendered")
    return problems


def check_disruption_and_exposure(rendered: Rendered) -> list[str]:
    """Every workload has a PDB and a Service; every PDB and Service selects something."""
    problems: list[str] = []
    workloads = rendered.of(*WORKLOAD_KINDS)
    pdbs = rendered.of("PodDisruptionBudget")
    services = rendered.of("Service")
    for workload in workloads:
        labels = pod_labels(workload)
        replicas = least_replicas(workload, rendered)
        matching = [p for p in pdbs if selector_matches(p["spec"].get("selector"), labels)]
        if not matching:
            problems.append(f"{ident(workload)}: no PodDisruptionBudget selects its pods")
        for pdb in matching:
            minimum = pdb["spec"].get("minAvailable")
            if isinstance(minimum, int) and minimum >= replicas:
                problems.append(
                    f"{ident(pdb)}: minAvailable {minimum} with {replicas} replicas blocks "
                    "every node drain"
                )
            if pdb["spec"].get("maxUnavailable") in (0, "0%"):
                problems.append(f"{ident(pdb)}: maxUnavailable 0 blocks every node drain")
        if not any(service_selects(s, labels) for s in services):
            problems.append(f"{ident(workload)}: no Service selects its pods")
        if not selector_matches(workload["spec"].get("selector"), labels):
            problems.append(f"{ident(workload)}: selector does not match its pod template")
    for pdb in pdbs:
        if not any(selector_matches(pdb["spec"].get("selector"), pod_labels(w)) for w in workloads):
            problems.append(f"{ident(pdb)}: selects no workload")
    for service in services:
        selected = [w for w in workloads if service_selects(service, pod_labels(w))]
        if not selected:
            problems.append(f"{ident(service)}: selects no workload")
            continue
        for port in service["spec"].get("ports", []):
            target = port.get("targetPort", port.get("port"))
            for workload in selected:
                if target not in container_ports(pod_spec(workload)):
                    problems.append(
                        f"{ident(service)}: port {port.get('name')} targets {target!r}, "
                        f"which {ident(workload)} does not expose"
                    )
    return problems


def autoscaler_for(workload: Doc, rendered: Rendered) -> Doc | None:
    for hpa in rendered.of("HorizontalPodAutoscaler"):
        ref = hpa["spec"].get("scaleTargetRef", {})
        if (ref.get("kind"), ref.get("name")) == (workload["kind"], workload["metadata"]["name"]):
            return hpa
    return None


def least_replicas(workload: Doc, rendered: Rendered) -> int:
    """The replica count a workload never goes below: its HPA's floor, or spec.replicas."""
    hpa = autoscaler_for(workload, rendered)
    if hpa is not None:
        return int(hpa["spec"].get("minReplicas", 1))
    return int(workload.get("spec", {}).get("replicas", 1))


def check_autoscalers(rendered: Rendered) -> list[str]:
    problems: list[str] = []
    for hpa in rendered.of("HorizontalPodAutoscaler"):
        spec = hpa["spec"]
        ref = spec.get("scaleTargetRef", {})
        target = rendered.named(ref.get("kind", ""), ref.get("name", ""))
        if target is None or ref.get("kind") not in WORKLOAD_KINDS:
            problems.append(f"{ident(hpa)}: scaleTargetRef {ref} is not a rendered workload")
        elif "replicas" in target.get("spec", {}):
            problems.append(
                f"{ident(target)}: sets spec.replicas although {ident(hpa)} scales it: "
                "every apply would reset the autoscaler's choice"
            )
        if spec.get("minReplicas", 1) > spec.get("maxReplicas", 0):
            problems.append(f"{ident(hpa)}: minReplicas above maxReplicas")
        if spec.get("minReplicas", 1) < 2:
            problems.append(f"{ident(hpa)}: minReplicas below 2 leaves no replica to fail over to")
    return problems


def check_references(rendered: Rendered, services: Iterable[str]) -> list[str]:
    """Config maps, secrets, volumes and service accounts the pods name must exist."""
    problems: list[str] = []
    config_maps = {doc["metadata"]["name"]: doc for doc in rendered.of("ConfigMap")}
    secrets = rendered.names("Secret") | EXTERNAL_SECRETS | {f"{s}-tls" for s in services}
    accounts = rendered.names("ServiceAccount")

    def config_map(at: str, name: str, keys: Iterable[str] = ()) -> None:
        if name not in config_maps:
            problems.append(f"{at}: config map {name!r} is not rendered")
            return
        data = config_maps[name].get("data", {})
        problems.extend(
            f"{at}: config map {name!r} has no key {key!r}" for key in keys if key not in data
        )

    def secret(at: str, name: str) -> None:
        if name not in secrets:
            problems.append(
                f"{at}: secret {name!r} is neither rendered nor a known external secret"
            )

    for workload in rendered.of(*WORKLOAD_KINDS):
        where = ident(workload)
        spec = pod_spec(workload)
        account = spec.get("serviceAccountName")
        if account and account not in accounts:
            problems.append(f"{where}: service account {account!r} is not rendered")
        volume_names = {v["name"] for v in spec.get("volumes", [])}
        volume_names |= {
            t["metadata"]["name"] for t in workload["spec"].get("volumeClaimTemplates", [])
        }
        for volume in spec.get("volumes", []):
            if "configMap" in volume:
                items = volume["configMap"].get("items", [])
                config_map(where, volume["configMap"]["name"], [i["key"] for i in items])
            if "secret" in volume:
                secret(where, volume["secret"]["secretName"])
        for container in containers(spec):
            at = f"{where}: container {container['name']}"
            for source in container.get("envFrom", []):
                if "configMapRef" in source:
                    config_map(at, source["configMapRef"]["name"])
                if "secretRef" in source:
                    secret(at, source["secretRef"]["name"])
            for entry in container.get("env", []):
                value_from = entry.get("valueFrom", {})
                if "configMapKeyRef" in value_from:
                    ref = value_from["configMapKeyRef"]
                    config_map(at, ref["name"], [ref["key"]])
                if "secretKeyRef" in value_from:
                    secret(at, value_from["secretKeyRef"]["name"])
            for mount in container.get("volumeMounts", []):
                if mount["name"] not in volume_names:
                    problems.append(f"{at}: mounts undefined volume {mount['name']!r}")
    return problems


def check_namespace_and_policies(rendered: Rendered) -> list[str]:
    problems: list[str] = []
    if rendered.named("Namespace", NAMESPACE) is None:
        problems.append(f"Namespace/{NAMESPACE} is not rendered")
    for doc in rendered.docs:
        if doc["kind"] in CLUSTER_SCOPED_KINDS:
            continue
        if doc["metadata"].get("namespace") != NAMESPACE:
            problems.append(f"{ident(doc)}: namespace is not {NAMESPACE}")
    policies = rendered.of("NetworkPolicy")
    if not any(
        p["spec"].get("podSelector") == {}
        and set(p["spec"].get("policyTypes", [])) == {"Ingress", "Egress"}
        and not p["spec"].get("ingress")
        and not p["spec"].get("egress")
        for p in policies
    ):
        problems.append("no default-deny NetworkPolicy (podSelector {}, Ingress and Egress)")
    if not any(
        p["spec"].get("podSelector") == {}
        and any(
            port.get("port") == 53
            for rule in p["spec"].get("egress", [])
            for port in rule.get("ports", [])
        )
        for p in policies
    ):
        problems.append("no NetworkPolicy lets pods reach DNS (egress port 53)")
    return problems


def _nats_server() -> str | None:
    beside = Path(sys.executable).parent / "nats-server"
    if beside.is_file() and os.access(beside, os.X_OK):
        return str(beside)
    return shutil.which("nats-server")


def check_nats(rendered: Rendered) -> list[str]:
    """Routes match the StatefulSet, JetStream stores on its volume, nats-server parses it."""
    problems: list[str] = []
    statefulset = rendered.named("StatefulSet", "nats")
    if statefulset is None:
        return ["StatefulSet/nats is not rendered"]
    where = ident(statefulset)
    spec = pod_spec(statefulset)
    config_volume = next((v for v in spec.get("volumes", []) if "configMap" in v), None)
    config_map = config_volume and rendered.named("ConfigMap", config_volume["configMap"]["name"])
    if not config_map or "nats.conf" not in config_map.get("data", {}):
        return [f"{where}: no config map with nats.conf mounted"]
    config = config_map["data"]["nats.conf"]

    replicas = statefulset["spec"].get("replicas", 1)
    headless = statefulset["spec"].get("serviceName")
    expected = {f"nats://nats-{i}.{headless}:6222" for i in range(replicas)}
    routes = set(re.findall(r"nats://[\w.-]+:\d+", config))
    if routes != expected:
        problems.append(f"{where}: nats.conf routes {sorted(routes)} != {sorted(expected)}")
    service = rendered.named("Service", headless or "")
    if service is None or service["spec"].get("clusterIP") != "None":
        problems.append(f"{where}: serviceName {headless!r} is not a headless Service")
    store = re.search(r"store_dir:\s*\"?([^\s\"]+)", config)
    claims = {t["metadata"]["name"] for t in statefulset["spec"].get("volumeClaimTemplates", [])}
    mounts = {
        m["mountPath"]: m["name"]
        for c in spec.get("containers", [])
        for m in c.get("volumeMounts", [])
    }
    if not store or mounts.get(store.group(1)) not in claims:
        problems.append(f"{where}: JetStream store_dir is not on a volumeClaimTemplate")

    binary = _nats_server()
    if binary is not None:
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "nats.conf"
            path.write_text(config)
            result = subprocess.run(
                [binary, "-c", str(path), "-t"],
                capture_output=True,
                text=True,
                timeout=30,
                check=False,
                env={**os.environ, "SERVER_NAME": "nats-0", "POD_NAME": "nats-0"},
            )
        if result.returncode != 0:
            message = (result.stderr or result.stdout).strip().replace(str(path), "nats.conf")
            problems.append(f"ConfigMap/{config_map['metadata']['name']}: {message}")
    return problems


def check_policies(docs: list[Doc], staged: Iterable[str] = ()) -> list[str]:
    """House rules over one rendered overlay; staged: services expected without a module."""
    staged = tuple(staged)
    expected = (*SERVICES, *staged)
    rendered = Rendered(docs)
    services = [
        d
        for d in rendered.of("Deployment")
        if d["metadata"].get("labels", {}).get("app.kubernetes.io/component") == SERVICE_COMPONENT
    ]
    problems = check_namespace_and_policies(rendered)
    for workload in rendered.of(*WORKLOAD_KINDS):
        problems += check_pod_security(workload)
    found = {d["metadata"]["name"] for d in services}
    if found != set(expected):
        problems.append(f"service Deployments {sorted(found)} != {sorted(expected)}")
    for name in sorted(found - set(staged)):
        if not (REPO_DIR / "services" / name / "__main__.py").is_file():
            problems.append(
                f"Deployment/{name}: there is no services/{name}/__main__.py in this "
                f"repository, so python -m services.{name} would crash"
            )
    for deployment in services:
        problems += check_storemesh_service(deployment, rendered)
    problems += check_databases(services, rendered)
    problems += check_disruption_and_exposure(rendered)
    problems += check_autoscalers(rendered)
    problems += check_references(rendered, expected)
    problems += check_nats(rendered)
    return problems


# --------------------------------------------------------------------------- entry points


def label(overlay: str, staged: bool) -> str:
    return f"{overlay}+{STAGED_COMPONENT}" if staged else overlay


def validate_overlay(overlay: str, *, staged: bool = False) -> list[str]:
    """Problems of one overlay (staged: with components/collaboration enabled), each
    prefixed with its label."""
    prefix = label(overlay, staged)
    try:
        docs = render_staged(overlay) if staged else render(overlay)
    except RenderError as error:
        return [f"{prefix}: {error}"]
    problems: list[str] = []
    for doc in docs:
        problems += check_schema(doc)
    problems += check_policies(docs, STAGED_SERVICES if staged else ())
    return [f"{prefix}: {problem}" for problem in problems]


def validate_all(overlays: Iterable[str] | None = None) -> list[str]:
    """Every problem in the given overlays (default: all of them), each rendered as it is
    and with components/collaboration enabled; empty means valid."""
    names = list(overlays) if overlays is not None else overlay_names()
    if not names:
        return [f"no overlays under {OVERLAYS_DIR}"]
    problems: list[str] = []
    for name in names:
        problems += validate_overlay(name)
        problems += validate_overlay(name, staged=True)
    return problems


def main(argv: list[str] | None = None) -> int:
    names = (argv if argv is not None else sys.argv[1:]) or overlay_names()
    failed = False
    for name in names:
        for staged in (False, True):
            problems = validate_overlay(name, staged=staged)
            if problems:
                failed = True
                print(f"FAIL {label(name, staged)}: {len(problems)} problem(s)", file=sys.stderr)
                for problem in problems:
                    print(f"  {problem}", file=sys.stderr)
            else:
                print(f"ok   {label(name, staged)}")
    if failed:
        print("deploy/k8s does not validate", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
