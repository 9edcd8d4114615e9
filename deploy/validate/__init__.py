"""Render every kustomize overlay and check what it would apply, offline.

    python -m deploy.validate [OVERLAY ...]     (default: every deploy/k8s/overlays/*)

For each document that `kubectl kustomize` renders for an overlay:

1. built-in kinds are validated against the Kubernetes 1.30 OpenAPI schemas in strict
   mode (unknown fields are errors) with kubernetes-validate;
2. custom resources (CloudNativePG) are validated with jsonschema against
   deploy/schemas/<group>_<version>_<Kind>.json, closed schemas of the fields we use;
3. house rules that no schema expresses: restricted security context, requests and
   limits, probes (native grpc, or storemesh-healthcheck when the service requires
   mTLS), a PodDisruptionBudget and a Service for every workload, autoscalers that point
   at something, references to config maps, secrets, volumes and service accounts that
   resolve, one database per service, the five service Deployments, each running a module
   that exists (services/<name>/__main__.py), a NATS identity for each service that the
   generated accounts.conf knows, and a nats.conf (with its includes) that
   `nats-server -t` accepts (when a nats-server binary is at hand: beside this Python, or
   on PATH);
4. the network (calls.py): each service's egress to another service's gRPC port allowed
   exactly when it declares the call (STOREMESH_<PEER>_ADDRESS), NATS and PostgreSQL for
   every service, and into a service only its gRPC port.

validate_all() returns the problems as strings, empty when everything passes; main()
prints them and exits 1 if there are any.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable

from deploy.validate.cluster import check_policies
from deploy.validate.manifests import (
    OVERLAYS_DIR,
    RenderError,
    check_schema,
    overlay_names,
    render,
)

# --------------------------------------------------------------------------- entry points


def validate_overlay(overlay: str) -> list[str]:
    """Problems of one overlay, each prefixed with its name."""
    try:
        docs = render(overlay)
    except RenderError as error:
        return [f"{overlay}: {error}"]
    problems: list[str] = []
    for doc in docs:
        problems += check_schema(doc)
    problems += check_policies(docs)
    return [f"{overlay}: {problem}" for problem in problems]


def validate_all(overlays: Iterable[str] | None = None) -> list[str]:
    """Every problem in the given overlays (default: all of them); empty means valid."""
    names = list(overlays) if overlays is not None else overlay_names()
    if not names:
        return [f"no overlays under {OVERLAYS_DIR}"]
    return [problem for name in names for problem in validate_overlay(name)]


def main(argv: list[str] | None = None) -> int:
    names = (argv if argv is not None else sys.argv[1:]) or overlay_names()
    failed = False
    for name in names:
        problems = validate_overlay(name)
        if problems:
            failed = True
            print(f"FAIL {name}: {len(problems)} problem(s)", file=sys.stderr)
            for problem in problems:
                print(f"  {problem}", file=sys.stderr)
        else:
            print(f"ok   {name}")
    if failed:
        print("deploy/k8s does not validate", file=sys.stderr)
        return 1
    return 0
