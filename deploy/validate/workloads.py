"""House rules for workloads: pod security, probes, the services' settings, databases."""

from __future__ import annotations

from deploy.validate.manifests import (
    DATABASE_URL,
    FILE_ENV,
    HEALTHCHECK_COMMAND,
    REQUIRED_SERVICE_ENV,
    SERVICE_COMPONENT,
    SERVICE_PORTS,
    VAR_REF,
    Doc,
    ident,
)
from deploy.validate.objects import (
    Rendered,
    containers,
    env_names_from,
    env_values,
    image_problem,
    pod_spec,
)

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
