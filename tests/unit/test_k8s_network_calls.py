"""deploy/validate catches network policies that do not match the calls the sagas make:
each case breaks one thing in the rendered dev overlay and expects that problem named."""

from __future__ import annotations

import copy
import os
import shutil
from collections.abc import Callable
from functools import cache
from typing import Any

import pytest

from deploy.validate.cluster import check_policies
from deploy.validate.manifests import Doc, render

pytestmark = pytest.mark.skipif(
    not os.environ.get("KUBECTL") and shutil.which("kubectl") is None,
    reason="kubectl is not on PATH: it renders the kustomize overlays",
)


@cache
def _dev() -> tuple[Doc, ...]:
    return tuple(render("dev"))


def rendered() -> list[Doc]:
    return copy.deepcopy(list(_dev()))


def named(docs: list[Doc], kind: str, name: str) -> Doc:
    return next(d for d in docs if d["kind"] == kind and d["metadata"]["name"] == name)


def container(docs: list[Doc], service: str) -> Doc:
    spec = named(docs, "Deployment", service)["spec"]["template"]["spec"]
    return next(c for c in spec["containers"] if c["name"] == service)


def problems_after(change: Callable[[list[Doc]], Any]) -> list[str]:
    docs = rendered()
    change(docs)
    return check_policies(docs)


def test_the_dev_overlay_as_committed_has_no_problems() -> None:
    assert check_policies(rendered()) == []


def test_a_declared_call_without_an_egress_allow_is_named() -> None:
    def drop_workforce(docs: list[Doc]) -> None:
        policy = named(docs, "NetworkPolicy", "collab-egress-grpc")
        policy["spec"]["egress"] = [
            r for r in policy["spec"]["egress"] if r["ports"][0]["port"] != 50052
        ]

    assert problems_after(drop_workforce) == [
        "Deployment/collab: declares calls to workforce:50052 but no NetworkPolicy allows "
        "that egress"
    ]


def test_an_egress_allow_without_a_declared_call_is_named() -> None:
    def forget_the_address(docs: list[Doc]) -> None:
        env = container(docs, "analytics")["env"]
        env[:] = [e for e in env if e["name"] != "STOREMESH_CAPACITY_ADDRESS"]

    assert problems_after(forget_the_address) == [
        "Deployment/analytics: NetworkPolicies let it reach capacity:50053, a call it does "
        "not declare (STOREMESH_CAPACITY_ADDRESS)"
    ]


def test_an_open_egress_rule_reaches_every_service_and_is_named() -> None:
    def open_egress(docs: list[Doc]) -> None:
        named(docs, "NetworkPolicy", "analytics-egress-grpc")["spec"]["egress"].append({})

    problems = problems_after(open_egress)
    assert {p.split(",")[0] for p in problems} == {
        f"Deployment/analytics: NetworkPolicies let it reach {peer}"
        for peer in ("inventory:50051", "workforce:50052", "collab:50054")
    }


def test_an_address_of_no_deployed_service_is_named() -> None:
    def wrong_port(docs: list[Doc]) -> None:
        for entry in container(docs, "collab")["env"]:
            if entry["name"] == "STOREMESH_INVENTORY_ADDRESS":
                entry["value"] = "inventory:50099"

    assert (
        "Deployment/collab: STOREMESH_INVENTORY_ADDRESS='inventory:50099' is not a deployed "
        "service's address (inventory:50051 expected)"
    ) in problems_after(wrong_port)


def test_ingress_beyond_the_grpc_port_is_named() -> None:
    def open_metrics(docs: list[Doc]) -> None:
        policy = named(docs, "NetworkPolicy", "services-grpc-ingress")
        policy["spec"]["ingress"].append({"ports": [{"protocol": "TCP", "port": 8080}]})

    problems = problems_after(open_metrics)
    assert len(problems) == 5
    assert problems[0].endswith("only its gRPC port 50055 may be open")


def test_a_service_without_its_nkey_user_in_accounts_conf_is_named() -> None:
    def forget_collab(docs: list[Doc]) -> None:
        config = next(d for d in docs if d["kind"] == "ConfigMap" and "accounts.conf" in d["data"])
        config["data"]["accounts.conf"] = config["data"]["accounts.conf"].replace(
            "# service collab\n", "# service someone-else\n"
        )

    assert problems_after(forget_collab) == [
        "Deployment/collab: accounts.conf has no NKey user for service collab"
    ]
