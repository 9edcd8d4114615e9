"""`python -m kernel.call SERVICE METHOD JSON`: call any StoreMesh RPC without grpcurl.

The method is found by server reflection, so this works for every service, also ones
written after it; the request is JSON in the proto's field names, the reply is printed as
JSON, a refusal as its status with the rich error details (BadRequest, ErrorInfo, ...).
A `request_id` is added to a mutation that has none. The token comes from --token, else
$STOREMESH_TOKEN, else the HQ token `make run` wrote to $STOREMESH_VAR/tokens/hq.token.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import sys
import uuid
from typing import Any

import grpc
from google.protobuf import descriptor_pool, json_format, message_factory
from google.protobuf.descriptor import MethodDescriptor
from google.protobuf.message import Message
from google.rpc import error_details_pb2
from grpc_reflection.v1alpha.proto_reflection_descriptor_database import (
    ProtoReflectionDescriptorDatabase,
)
from grpc_status import rpc_status

from kernel.auth import var_dir
from kernel.peer_client import bearer

DETAIL_TYPES = (
    error_details_pb2.BadRequest,
    error_details_pb2.ErrorInfo,
    error_details_pb2.PreconditionFailure,
    error_details_pb2.ResourceInfo,
    error_details_pb2.RetryInfo,
)


def address_of(target: str) -> str:
    """`inventory` -> 127.0.0.1:50051 (the service's default port, shifted like `make run`'s
    by $STOREMESH_RUN_PORT_OFFSET); `host:port` as given."""
    if ":" in target:
        return target
    try:
        # Looked up by name, so the kernel names no service and a new one needs no edit here.
        bootstrap = importlib.import_module(f"services.{target}.bootstrap")
    except ModuleNotFoundError as missing:
        raise SystemExit(f"no service {target!r}: give its name or host:port") from missing
    offset = int(os.environ.get("STOREMESH_RUN_PORT_OFFSET", "0"))
    return f"127.0.0.1:{int(bootstrap.PORT) + offset}"


def token_from(given: str | None) -> str:
    if given:
        return given
    if os.environ.get("STOREMESH_TOKEN"):
        return os.environ["STOREMESH_TOKEN"]
    written = var_dir() / "tokens" / "hq.token"
    if written.exists():
        return written.read_text().strip()
    raise SystemExit(
        f"no token: pass --token, set STOREMESH_TOKEN, or start `make run` (it writes {written})"
    )


def find_method(channel: grpc.Channel, name: str) -> MethodDescriptor:
    """`FindStock` or `storemesh.inventory.v1.InventoryService/FindStock`, by reflection."""
    database = ProtoReflectionDescriptorDatabase(channel)
    pool = descriptor_pool.DescriptorPool(database)
    service_name, _, method_name = name.rpartition("/")
    services = [service_name] if service_name else list(database.get_services())
    for candidate in services:
        if candidate.startswith("grpc."):
            continue
        service = pool.FindServiceByName(candidate)
        if method_name in service.methods_by_name:
            return service.methods_by_name[method_name]  # type: ignore[no-any-return]
    raise SystemExit(f"no method {name!r} on this server (services: {', '.join(services)})")


def request_for(method: MethodDescriptor, body: str) -> Message:
    request: Message = message_factory.GetMessageClass(method.input_type)()
    json_format.Parse(body or "{}", request)
    fields = method.input_type.fields_by_name
    if "request_id" in fields and not request.request_id:  # type: ignore[attr-defined]
        request.request_id = str(uuid.uuid4())  # type: ignore[attr-defined]
    return request


def call(address: str, method_name: str, body: str, token: str, timeout: float = 30.0) -> Any:
    """The reply as a dict; raises grpc.RpcError on a refusal."""
    with grpc.insecure_channel(address) as channel:
        method = find_method(channel, method_name)
        reply_class = message_factory.GetMessageClass(method.output_type)
        invoke: grpc.UnaryUnaryMultiCallable[Message, Message] = channel.unary_unary(
            f"/{method.containing_service.full_name}/{method.name}",
            request_serializer=lambda m: m.SerializeToString(),
            response_deserializer=reply_class.FromString,
        )
        reply = invoke(
            request_for(method, body),
            metadata=bearer(token),
            timeout=timeout,
        )
        return json_format.MessageToDict(reply, preserving_proto_field_name=True)


def refusal(error: grpc.RpcError) -> dict[str, Any]:
    """A refused call as JSON: its code, message and decoded google.rpc details."""
    found: dict[str, Any] = {
        "code": error.code().name,  # type: ignore[attr-defined]
        "message": error.details(),  # type: ignore[attr-defined]
    }
    status = rpc_status.from_call(error)  # type: ignore[arg-type]
    for packed in status.details if status is not None else ():
        for kind in DETAIL_TYPES:
            if packed.Is(kind.DESCRIPTOR):
                detail = kind()
                packed.Unpack(detail)
                found[kind.DESCRIPTOR.name] = json_format.MessageToDict(
                    detail, preserving_proto_field_name=True
                )
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m kernel.call",
        description=__doc__.split("\n\n", 1)[1] if __doc__ else None,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=(
            "example:\n  python -m kernel.call inventory FindStock "
            '\'{"part_number": "BRK-PAD-F", "min_available": 1}\''
        ),
    )
    parser.add_argument("target", help="a service name (inventory, capacity, ...) or host:port")
    parser.add_argument("method", help="FindStock, or package.Service/Method")
    parser.add_argument("body", nargs="?", default="{}", help="the request as JSON ('-': stdin)")
    parser.add_argument("--token", help="bearer token (default: $STOREMESH_TOKEN, var/tokens)")
    args = parser.parse_args(argv)
    body = sys.stdin.read() if args.body == "-" else args.body
    try:
        reply = call(address_of(args.target), args.method, body, token_from(args.token))
    except json_format.ParseError as bad:
        print(f"the request is not valid JSON for this method: {bad}", file=sys.stderr)
        return 2
    except grpc.RpcError as error:
        print(json.dumps(refusal(error), indent=2, ensure_ascii=False), file=sys.stderr)
        return 1
    try:
        print(json.dumps(reply, indent=2, ensure_ascii=False), flush=True)
    except BrokenPipeError:
        # Piped into `head`: the reader has what it wanted; no traceback for that.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    return 0


if __name__ == "__main__":
    sys.exit(main())
