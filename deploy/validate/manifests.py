"""What the validator reads: the rendered overlays, the contract's constants, the schemas."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from collections.abc import Iterable
from functools import cache
from pathlib import Path
from typing import Any

import yaml

Doc = dict[str, Any]


KUBERNETES_VERSION = "1.30.0"
DEPLOY_DIR = Path(__file__).resolve().parent.parent
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
# What every overlay deploys.
SERVICES = ("inventory", "workforce", "capacity", "collab", "analytics")
SERVICE_COMPONENT = "grpc-service"
HEALTHCHECK_COMMAND = "storemesh-healthcheck"
REQUIRED_SERVICE_ENV = (
    "STOREMESH_DATABASE_URL",
    "STOREMESH_NATS_URL",
    "STOREMESH_GRPC_ADDRESS",
    "STOREMESH_JWT_PUBLIC_KEY_FILE",
    "STOREMESH_OTEL_EXPORTER",
    "STOREMESH_LOG_LEVEL",
    "STOREMESH_NATS_NKEY_SEED_FILE",
    "STOREMESH_GRPC_WORKERS",
)
# A call to another service is declared as STOREMESH_<PEER>_ADDRESS=<peer>:<port>
# (STOREMESH_GRPC_ADDRESS is where a service listens itself).
PEER_ADDRESS = re.compile(r"^STOREMESH_(?!GRPC_)([A-Z]+)_ADDRESS$")
# Environment variables holding a path that must lie on a mounted volume.
FILE_ENV = re.compile(r"^(STOREMESH_\w+_FILE|PGSSLROOTCERT|PGSSLCERT|PGSSLKEY)$")
DATABASE_URL = re.compile(
    r"^postgresql\+psycopg://[^@/]+@(?P<host>[^:/?]+)(?::(?P<port>\d+))?/(?P<db>[^?/]+)(?:\?.*)?$"
)
VAR_REF = re.compile(r"(?<!\$)\$\(([A-Za-z_][A-Za-z0-9_]*)\)")

# Secrets made outside kustomize: by the CloudNativePG operator (<cluster>-app,
# <cluster>-ca) or by whoever installs (docs/operations.md, "Secrets to create").
# Plus "<service>-tls" for each service deployed.
# Made by operators, never rendered (docs/operations.md).
EXTERNAL_SECRETS = frozenset(
    {
        "storemesh-pg-app",
        "storemesh-pg-ca",
        "storemesh-jwt",
        "storemesh-nats-nkeys",
        "storemesh-service-tokens",
    }
)
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
