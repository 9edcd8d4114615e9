"""The Kubernetes manifests render and pass deploy/validate/, offline.

validate_all() renders every overlay under deploy/k8s/overlays and checks schemas, house
rules and the network calls (tests/unit/test_k8s_network_calls.py breaks each); it needs
kubectl for `kubectl kustomize`, nothing else (no cluster).
"""

from __future__ import annotations

import os
import shutil

import pytest

from deploy.validate import validate_all


def test_every_overlay_validates() -> None:
    if not os.environ.get("KUBECTL") and shutil.which("kubectl") is None:
        pytest.skip("kubectl is not on PATH: it renders the kustomize overlays")
    problems = validate_all()
    assert problems == [], "deploy/k8s does not validate:\n" + "\n".join(problems)
