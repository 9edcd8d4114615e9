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

import sys
from collections.abc import Iterable

from deploy.validate.cluster import check_policies
from deploy.validate.manifests import (
    OVERLAYS_DIR,
    STAGED_COMPONENT,
    STAGED_SERVICES,
    RenderError,
    check_schema,
    overlay_names,
    render,
    render_staged,
)

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
