"""House rules across objects: disruption budgets, exposure, autoscalers, references,
namespace and network policies, NATS."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterable
from pathlib import Path

from deploy.validate.calls import check_calls
from deploy.validate.manifests import (
    CLUSTER_SCOPED_KINDS,
    EXTERNAL_SECRETS,
    NAMESPACE,
    REPO_DIR,
    SERVICE_COMPONENT,
    SERVICES,
    WORKLOAD_KINDS,
    Doc,
    ident,
)
from deploy.validate.objects import (
    Rendered,
    container_ports,
    containers,
    pod_labels,
    pod_spec,
    selector_matches,
    service_selects,
)
from deploy.validate.workloads import check_databases, check_pod_security, check_storemesh_service


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
            # With every file of the config map beside it, as mounted: includes resolve.
            for key, text in config_map.get("data", {}).items():
                (Path(tmp) / key).write_text(text)
            path = Path(tmp) / "nats.conf"
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


def check_nats_identities(rendered: Rendered, services: list[Doc]) -> list[str]:
    """Each service connects as an NKey user that the mounted accounts.conf defines."""
    statefulset = rendered.named("StatefulSet", "nats")
    volume = statefulset and next(
        (v for v in pod_spec(statefulset).get("volumes", []) if "configMap" in v), None
    )
    config_map = volume and rendered.named("ConfigMap", volume["configMap"]["name"])
    accounts = (config_map or {}).get("data", {}).get("accounts.conf", "")
    if not accounts:
        return ["ConfigMap of StatefulSet/nats: no accounts.conf (make nats-config)"]
    return [
        f"{ident(s)}: accounts.conf has no NKey user for service {s['metadata']['name']}"
        for s in services
        if not re.search(rf'# service {s["metadata"]["name"]}\n\s*{{ nkey: "U', accounts)
    ]


def check_policies(docs: list[Doc]) -> list[str]:
    """House rules over one rendered overlay."""
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
    if found != set(SERVICES):
        problems.append(f"service Deployments {sorted(found)} != {sorted(SERVICES)}")
    for name in sorted(found):
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
    problems += check_references(rendered, SERVICES)
    problems += check_nats(rendered)
    problems += check_nats_identities(rendered, services)
    problems += check_calls(rendered, services)
    return problems
