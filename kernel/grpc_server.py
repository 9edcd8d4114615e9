"""Hosting a service: gRPC server with health, reflection, auth, telemetry and errors,
plus the relay, timers and subscriptions of the process, all stopped gracefully."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import time
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from pathlib import Path
from typing import Any, Protocol

import grpc
import structlog
from google.rpc import error_details_pb2, status_pb2
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_health.v1._async import HealthServicer
from grpc_reflection.v1alpha import reflection, reflection_pb2
from opentelemetry import trace

from kernel import edge
from kernel.auth import TokenVerifier, set_principal
from kernel.config import Settings
from kernel.db import Database
from kernel.errors import DomainError, InvalidArgument, Unauthenticated, Unavailable
from kernel.event_loop import running_loop_name
from kernel.gc_tuning import tune_for_serving
from kernel.grpc_errors import abort_status, to_status
from kernel.messaging import NatsConnection
from kernel.metrics import recording
from kernel.relay import Relay
from kernel.subscriptions import SubscriptionRunner
from kernel.telemetry import context_from, request_id_var
from kernel.telemetry import span as span_of
from kernel.timers import TimerRunner

log = structlog.get_logger("storemesh.kernel.grpc")
tracer = trace.get_tracer("storemesh.kernel.grpc")

OPEN_METHOD_PREFIXES = ("/grpc.health.v1.", "/grpc.reflection.")
# Health service name a liveness probe asks for: SERVING while the process runs, even with
# NATS or the database away (readiness, the empty name, reflects those).
LIVENESS = "liveness"


_CODE_NAMES = {c.value[0]: c.name for c in grpc.StatusCode}
# The codes that are the server's fault (OpenTelemetry's gRPC conventions): a server span
# ends in ERROR only with one of these; a caller's refusal leaves its status unset.
_SERVER_FAULTS = {
    grpc.StatusCode.UNKNOWN,
    grpc.StatusCode.DEADLINE_EXCEEDED,
    grpc.StatusCode.UNIMPLEMENTED,
    grpc.StatusCode.INTERNAL,
    grpc.StatusCode.UNAVAILABLE,
    grpc.StatusCode.DATA_LOSS,
}


def _span_status(span: trace.Span, code: Any) -> None:
    if not span.is_recording():
        return
    number = code.value[0] if isinstance(code, grpc.StatusCode) else code
    span.set_attribute("rpc.grpc.status_code", number if isinstance(number, int) else 2)
    if code in _SERVER_FAULTS:
        span.set_status(trace.Status(trace.StatusCode.ERROR, _code_name(code)))


def _code_name(code: Any) -> str:
    """A status code's name, from grpc.StatusCode or the number grpcio's context holds."""
    if isinstance(code, grpc.StatusCode):
        return code.name
    return _CODE_NAMES.get(code, "UNKNOWN") if isinstance(code, int) else "UNKNOWN"


def _refusal(status: status_pb2.Status) -> str:
    """The ErrorInfo reason the refusal's status carries, as the caller reads it (bounded:
    the code's own constants); '' when it carries none (INVALID_ARGUMENT, NOT_FOUND)."""
    info = error_details_pb2.ErrorInfo()
    for detail in status.details:
        if detail.Is(info.DESCRIPTOR):
            detail.Unpack(info)
            return str(info.reason)
    return ""


class CallInterceptor(grpc.aio.ServerInterceptor):
    """Per unary call: trace span, request id, caller identity, wire hygiene (kernel.edge),
    error mapping, access log, call metrics (kernel.metrics)."""

    def __init__(self, verifier: TokenVerifier | None) -> None:
        self.verifier = verifier

    async def intercept_service(
        self,
        continuation: Callable[
            [grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler[Any, Any] | None]
        ],
        details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler[Any, Any] | None:
        handler = await continuation(details)
        method = details.method
        if handler is None or method.startswith(OPEN_METHOD_PREFIXES):
            return handler
        if handler.unary_unary is None:
            return self._refuse_unguarded(handler)
        inner = handler.unary_unary

        async def behaviour(request: Any, context: grpc.aio.ServicerContext[Any, Any]) -> Any:
            metadata = {k: v for k, v in context.invocation_metadata() or () if isinstance(v, str)}
            request_id = edge.loggable(
                str(getattr(request, "request_id", "") or metadata.get("x-request-id", ""))
            )
            token = request_id_var.set(request_id)
            started = time.perf_counter()
            outcome = "OK"
            code = grpc.StatusCode.OK
            refusal = ""
            with span_of(
                tracer,
                method.lstrip("/"),
                context=context_from(metadata),
                kind=trace.SpanKind.SERVER,
                attributes={"rpc.system": "grpc", "rpc.method": method},
                errors_recorded=False,
            ) as span:
                try:
                    set_principal(self._authenticate(metadata))
                    found = edge.violations(request)
                    if not found:
                        return await inner(request, context)  # type: ignore[arg-type]
                    # The servicer still runs its checks, so the refusal names every field;
                    # whatever it answers, a request with wire faults is refused.
                    with edge.deferred(found):
                        try:
                            await inner(request, context)  # type: ignore[arg-type]
                        except InvalidArgument as refused:
                            raise edge.together(found, refused.violations) from None
                        except grpc.aio.AbortError:
                            raise
                        except Exception:
                            raise InvalidArgument(found) from None
                    raise InvalidArgument(found)
                except DomainError as error:
                    outcome = type(error).__name__
                    span.set_attribute("storemesh.error", outcome)
                    code, status = to_status(error)
                    refusal = _refusal(status)
                    await abort_status(context, code, status)
                except grpc.aio.AbortError:
                    outcome = "Aborted"
                    if code is grpc.StatusCode.OK:  # the servicer's own abort
                        code = context.code() or grpc.StatusCode.UNKNOWN  # type: ignore[assignment]
                    raise
                except asyncio.CancelledError:
                    outcome = "Cancelled"
                    code = grpc.StatusCode.CANCELLED
                    raise
                except Exception as exc:
                    outcome = "Internal"
                    code = grpc.StatusCode.INTERNAL
                    log.exception("rpc.internal_error", method=method)
                    span.record_exception(exc)
                    await context.abort(grpc.StatusCode.INTERNAL, "internal error")
                finally:
                    ms = (time.perf_counter() - started) * 1000
                    log.info("rpc", method=method, outcome=outcome, ms=round(ms, 2))
                    if (meters := recording()) is not None:
                        meters.served(method, _code_name(code), refusal, ms)
                    _span_status(span, code)
                    set_principal(None)
                    request_id_var.reset(token)

        return grpc.unary_unary_rpc_method_handler(
            behaviour,
            request_deserializer=handler.request_deserializer,
            response_serializer=handler.response_serializer,
        )

    def _refuse_unguarded(
        self, handler: grpc.RpcMethodHandler[Any, Any]
    ) -> grpc.RpcMethodHandler[Any, Any]:
        """Streaming methods get no identity check here yet: refuse them rather than let
        them through unauthenticated (no StoreMesh API streams today)."""

        async def refuse(request: Any, context: grpc.aio.ServicerContext[Any, Any]) -> Any:
            await context.abort(grpc.StatusCode.UNIMPLEMENTED, "streaming calls are not served")

        return grpc.unary_unary_rpc_method_handler(
            refuse,
            request_deserializer=handler.request_deserializer,
            response_serializer=handler.response_serializer,
        )

    def _authenticate(self, metadata: dict[str, str]) -> Any:
        if self.verifier is None:
            raise Unauthenticated("this server has no token verifier configured")
        header = metadata.get("authorization", "")
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token:
            raise Unauthenticated("missing bearer token (metadata 'authorization: Bearer <jwt>')")
        return self.verifier.verify(token.strip())


Registrar = Callable[[grpc.aio.Server], Sequence[str]]

REFLECTION_V1 = "grpc.reflection.v1.ServerReflection"


def enable_reflection(service_names: Sequence[str], server: grpc.aio.Server) -> None:
    """Server reflection under v1alpha and v1: grpcurl 1.9+, Postman and grpc-java ask v1
    first, while grpcio-reflection ships v1alpha only. The two protos differ only in their
    package name, so v1's bytes are read and written with v1alpha's messages."""
    reflection.enable_server_reflection(service_names, server)
    servicer = reflection.aio.ReflectionServicer(service_names)
    v1 = grpc.method_handlers_generic_handler(
        REFLECTION_V1,
        {
            "ServerReflectionInfo": grpc.stream_stream_rpc_method_handler(
                servicer.ServerReflectionInfo,
                request_deserializer=reflection_pb2.ServerReflectionRequest.FromString,
                response_serializer=reflection_pb2.ServerReflectionResponse.SerializeToString,
            )
        },
    )
    server.add_generic_rpc_handlers((v1,))


class BackgroundLoop(Protocol):
    """A service's own loop beside the relay and timers (e.g. a saga dispatcher): runs
    until `stop` is set, and is woken after every commit, since its work is committed rows."""

    async def run(self, stop: asyncio.Event) -> None: ...

    def wake(self) -> None: ...


class ServiceHost:
    """Everything one service process runs, started and stopped together."""

    def __init__(
        self,
        settings: Settings,
        db: Database,
        nats: NatsConnection,
        register: Registrar,
        *,
        relay: Relay | None = None,
        timers: TimerRunner | None = None,
        subscriptions: Sequence[SubscriptionRunner] = (),
        background: Sequence[BackgroundLoop] = (),
        verifier: TokenVerifier | None = None,
        health_interval: float = 2.0,
    ) -> None:
        self.settings = settings
        self.db = db
        self.nats = nats
        self.register = register
        self.relay = relay
        self.timers = timers
        self.subscriptions = list(subscriptions)
        self.background = list(background)
        self.verifier = verifier
        self.health_interval = health_interval
        self.health = HealthServicer()
        self.port = 0
        self._stop = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._server: grpc.aio.Server | None = None
        self._service_names: list[str] = []

    async def start(self) -> int:
        server = grpc.aio.server(
            interceptors=[CallInterceptor(self.verifier)],
            options=[
                ("grpc.max_receive_message_length", 4 * 1024 * 1024),
                # Clients reconnect now and then, so new replicas get their share of load.
                ("grpc.max_connection_age_ms", 5 * 60 * 1000),
                ("grpc.max_connection_age_grace_ms", 30 * 1000),
            ],
        )
        self._service_names = list(self.register(server))
        health_pb2_grpc.add_HealthServicer_to_server(self.health, server)
        enable_reflection(
            [
                *self._service_names,
                health_pb2.DESCRIPTOR.services_by_name["Health"].full_name,
                reflection.SERVICE_NAME,
            ],
            server,
        )
        self.port = self._bind(server)
        await server.start()
        self._server = server
        await self.health.set(LIVENESS, health_pb2.HealthCheckResponse.SERVING)
        await self._set_health(False)
        loops: list[Callable[[asyncio.Event], Coroutine[Any, Any, None]]] = [self._watch_health]
        if self.relay is not None:
            loops.append(self.relay.run)
        if self.timers is not None:
            loops.append(self.timers.run)
        loops.extend(runner.run for runner in self.subscriptions)
        loops.extend(loop.run for loop in self.background)
        self._tasks = [asyncio.create_task(loop(self._stop)) for loop in loops]
        log.info(
            "service.started",
            service=self.settings.service,
            port=self.port,
            event_loop=running_loop_name(),
        )
        return self.port

    def _bind(self, server: grpc.aio.Server) -> int:
        s = self.settings
        if s.tls_cert_file and s.tls_key_file:
            client_ca = Path(s.tls_client_ca_file).read_bytes() if s.tls_client_ca_file else None
            credentials = grpc.ssl_server_credentials(
                [(Path(s.tls_key_file).read_bytes(), Path(s.tls_cert_file).read_bytes())],
                root_certificates=client_ca,
                require_client_auth=client_ca is not None,
            )
            return server.add_secure_port(s.grpc_address, credentials)
        return server.add_insecure_port(s.grpc_address)

    async def _watch_health(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            healthy = await self.db.ping()
            if healthy:
                try:
                    await self.nats.client()
                except Unavailable:
                    healthy = False
            await self._set_health(healthy and self.nats.connected)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), self.health_interval)

    async def _set_health(self, serving: bool) -> None:
        status = (
            health_pb2.HealthCheckResponse.SERVING
            if serving
            else health_pb2.HealthCheckResponse.NOT_SERVING
        )
        for name in ("", *self._service_names):
            await self.health.set(name, status)

    async def stop(self, grace: float | None = None) -> None:
        """Stop taking calls, let in-flight calls finish, then stop the background loops."""
        await self.health.enter_graceful_shutdown()
        if self._server is not None:
            await self._server.stop(
                self.settings.shutdown_grace_seconds if grace is None else grace
            )
        self._stop.set()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await asyncio.wait_for(task, 10)
        await self.nats.close()
        await self.db.dispose()
        if (meters := recording()) is not None:
            # What the last interval counted, before the process goes (off the loop: the
            # exporter's call to the collector blocks).
            await asyncio.to_thread(meters.provider.force_flush, 5_000)
        log.info("service.stopped", service=self.settings.service)

    async def serve_forever(self) -> None:
        await self.start()
        tune_for_serving(self.settings.gc_young_threshold)
        stopping = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stopping.set)
        await stopping.wait()
        await self.stop()
