# syntax=docker/dockerfile:1
# One image for all five services; the container command picks one:
#   docker run IMAGE services.collab        (Kubernetes sets command: python -m services.<name>)
ARG PYTHON_IMAGE=python:3.11-slim-bookworm

FROM ${PYTHON_IMAGE} AS build
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
WORKDIR /src

# Dependencies only (the distribution carries no packages): this layer is reused until
# pyproject.toml changes.
COPY pyproject.toml ./
RUN pip install .

# Generated code, the same way the Makefile's proto target makes it: the generated root
# must import as a top-level package.
COPY proto/ proto/
RUN mkdir gen \
 && python -m grpc_tools.protoc -Iproto --python_out=gen --grpc_python_out=gen \
        $(find proto -name '*.proto') \
 && find gen -type d -exec touch {}/__init__.py \; \
 && rm -f gen/__init__.py


FROM ${PYTHON_IMAGE}
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONPATH=/app:/app/gen \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1

RUN groupadd --system --gid 10001 storemesh \
 && useradd --system --uid 10001 --gid 10001 --no-create-home \
        --home-dir /nonexistent --shell /usr/sbin/nologin storemesh

COPY --from=build /opt/venv /opt/venv
WORKDIR /app
COPY --from=build /src/gen gen
COPY proto/ proto/
COPY kernel/ kernel/
COPY services/ services/
COPY deploy/healthcheck.py /usr/local/bin/storemesh-healthcheck

# Byte-compile now: at run time the root filesystem is read-only. Code stays owned by
# root, so the service user cannot change it.
RUN python -m compileall -q /app \
 && chmod 0755 /usr/local/bin/storemesh-healthcheck

USER 10001:10001
EXPOSE 50051 50052 50053 50054 50055

# For docker run / compose; Kubernetes uses its own probes (deploy/k8s).
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
    CMD ["storemesh-healthcheck"]

ENTRYPOINT ["python", "-m"]
CMD ["services.inventory"]
