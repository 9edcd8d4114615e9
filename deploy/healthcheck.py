#!/usr/bin/env python3
"""Ask the local gRPC server for its health (grpc.health.v1) and exit 0 if SERVING.

Kubelet's native grpc probe speaks plaintext only. Once the tls component makes the
services require mutual TLS, the probe has to present a client certificate: this script,
installed in the image as storemesh-healthcheck, uses the pod's own certificate and the
same STOREMESH_* variables as the service. Without TLS settings it connects in plaintext,
which also makes it the image's Docker HEALTHCHECK.

Usage: storemesh-healthcheck [SERVICE]   (SERVICE defaults to "", the whole server)
"""

from __future__ import annotations

import os
import sys

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

TIMEOUT_SECONDS = float(os.environ.get("STOREMESH_HEALTHCHECK_TIMEOUT", "3"))


def _local_target() -> str:
    address = os.environ.get("STOREMESH_GRPC_ADDRESS", "0.0.0.0:50051")
    port = address.rsplit(":", 1)[-1]
    return f"127.0.0.1:{port}"


def _tls_name(certificate_pem: bytes) -> str | None:
    """The first DNS name of our own certificate: the server presents that same one."""
    from cryptography import x509

    certificate = x509.load_pem_x509_certificate(certificate_pem)
    try:
        san = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName)
    except x509.ExtensionNotFound:
        return None
    names = san.value.get_values_for_type(x509.DNSName)
    return names[0] if names else None


def _read(path: str) -> bytes:
    with open(path, "rb") as handle:
        return handle.read()


def _channel(target: str) -> grpc.Channel:
    cert_file = os.environ.get("STOREMESH_TLS_CERT_FILE")
    if not cert_file:
        return grpc.insecure_channel(target)
    certificate = _read(cert_file)
    key_file = os.environ.get("STOREMESH_TLS_KEY_FILE")
    ca_file = os.environ.get("STOREMESH_TLS_CLIENT_CA_FILE")
    credentials = grpc.ssl_channel_credentials(
        # One internal CA signs both server and client certificates.
        root_certificates=_read(ca_file) if ca_file else None,
        private_key=_read(key_file) if key_file else None,
        certificate_chain=certificate,
    )
    name = _tls_name(certificate)
    options = [("grpc.ssl_target_name_override", name)] if name else []
    return grpc.secure_channel(target, credentials, options=options)


def main(argv: list[str]) -> int:
    service = argv[1] if len(argv) > 1 else ""
    target = _local_target()
    try:
        with _channel(target) as channel:
            response = health_pb2_grpc.HealthStub(channel).Check(
                health_pb2.HealthCheckRequest(service=service), timeout=TIMEOUT_SECONDS
            )
    except grpc.RpcError as error:
        print(f"{target}: {error.code().name}: {error.details()}", file=sys.stderr)
        return 1
    except OSError as error:
        print(f"{target}: cannot read TLS material: {error}", file=sys.stderr)
        return 1
    status = health_pb2.HealthCheckResponse.ServingStatus.Name(response.status)
    if response.status != health_pb2.HealthCheckResponse.SERVING:
        print(f"{target}: {status}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
