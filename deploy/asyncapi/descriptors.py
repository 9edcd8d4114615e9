"""Reads the event protos as protoc compiles them: descriptors, comments, JSON Schemas."""

from __future__ import annotations

import re
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from google.protobuf import descriptor_pb2

FieldProto = descriptor_pb2.FieldDescriptorProto

EVENTS_FILE = re.compile(r"^storemesh/(?P<context>[a-z][a-z0-9_]*)/events/v1/events\.proto$")

# Tags of FileDescriptorProto / DescriptorProto used in SourceCodeInfo paths.
_MESSAGE_TYPE, _ENUM_TYPE, _FIELD, _NESTED_TYPE, _ENUM_VALUE = 4, 5, 2, 3, 2

# protojson, the canonical JSON mapping of proto3: 64-bit integers are strings.
_SCALARS: dict[int, dict[str, Any]] = {
    FieldProto.TYPE_DOUBLE: {"type": "number", "format": "double"},
    FieldProto.TYPE_FLOAT: {"type": "number", "format": "float"},
    FieldProto.TYPE_INT64: {"type": "string", "format": "int64"},
    FieldProto.TYPE_UINT64: {"type": "string", "format": "uint64"},
    FieldProto.TYPE_SINT64: {"type": "string", "format": "int64"},
    FieldProto.TYPE_FIXED64: {"type": "string", "format": "uint64"},
    FieldProto.TYPE_SFIXED64: {"type": "string", "format": "int64"},
    FieldProto.TYPE_INT32: {"type": "integer", "format": "int32"},
    FieldProto.TYPE_SINT32: {"type": "integer", "format": "int32"},
    FieldProto.TYPE_SFIXED32: {"type": "integer", "format": "int32"},
    FieldProto.TYPE_UINT32: {"type": "integer", "format": "uint32"},
    FieldProto.TYPE_FIXED32: {"type": "integer", "format": "uint32"},
    FieldProto.TYPE_BOOL: {"type": "boolean"},
    FieldProto.TYPE_STRING: {"type": "string"},
    FieldProto.TYPE_BYTES: {"type": "string", "contentEncoding": "base64"},
}

_WELL_KNOWN: dict[str, dict[str, Any]] = {
    "google.protobuf.Timestamp": {"type": "string", "format": "date-time"},
    "google.protobuf.Duration": {"type": "string", "pattern": r"^-?[0-9]+(\.[0-9]+)?s$"},
}


def compile_descriptors(proto_root: Path) -> descriptor_pb2.FileDescriptorSet:
    """Every events.proto under proto_root, compiled by grpc_tools' protoc with comments."""
    files = sorted(
        p.relative_to(proto_root).as_posix()
        for p in proto_root.glob("storemesh/*/events/v1/events.proto")
    )
    include = resources.files("grpc_tools") / "_proto"
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "events.pb"
        result = subprocess.run(
            [
                sys.executable,
                "-m",
                "grpc_tools.protoc",
                f"-I{proto_root}",
                f"-I{include}",
                "--include_imports",
                "--include_source_info",
                f"--descriptor_set_out={out}",
                *files,
            ],
            capture_output=True,
            text=True,
            check=False,
        )
        if result.returncode != 0:
            raise RuntimeError(f"protoc failed:\n{result.stderr}")
        return descriptor_pb2.FileDescriptorSet.FromString(out.read_bytes())


def _clean(comment: str) -> str:
    lines = [line.strip() for line in comment.strip().splitlines()]
    return " ".join(line for line in lines if line)


@dataclass
class ProtoFile:
    """One compiled events.proto with its comments indexed by descriptor path."""

    proto: descriptor_pb2.FileDescriptorProto
    comments: dict[tuple[int, ...], str]

    @classmethod
    def of(cls, proto: descriptor_pb2.FileDescriptorProto) -> ProtoFile:
        comments = {
            tuple(loc.path): _clean(loc.leading_comments)
            for loc in proto.source_code_info.location
            if loc.leading_comments.strip()
        }
        return cls(proto, comments)

    @property
    def name(self) -> str:
        return self.proto.name

    @property
    def context(self) -> str:
        match = EVENTS_FILE.match(self.proto.name)
        if match is None:
            raise ValueError(f"{self.proto.name} is not an events proto")
        return match["context"]

    @property
    def description(self) -> str:
        """The comment above `syntax`: what the file says about the whole stream."""
        return self.comments.get((12,), "")

    def full_name(self, message: descriptor_pb2.DescriptorProto) -> str:
        return f"{self.proto.package}.{message.name}"

    def event_messages(self) -> list[tuple[int, descriptor_pb2.DescriptorProto]]:
        """Top-level messages no other message of the file embeds: the events.

        Building blocks (a store profile, a certification) are fields of events; an event
        is never a field of another, so what nothing embeds is what the relay publishes.
        """
        embedded = {
            field.type_name.lstrip(".")
            for message in self._all_messages()
            for field in message.field
            if field.type == FieldProto.TYPE_MESSAGE
        }
        return [
            (index, message)
            for index, message in enumerate(self.proto.message_type)
            if self.full_name(message) not in embedded
        ]

    def _all_messages(self) -> Iterator[descriptor_pb2.DescriptorProto]:
        stack = list(self.proto.message_type)
        while stack:
            message = stack.pop()
            yield message
            stack.extend(message.nested_type)


class SchemaBuilder:
    """JSON Schemas (protojson mapping) of messages and enums, with the protos' comments."""

    def __init__(self, files: list[ProtoFile]) -> None:
        self._messages: dict[str, tuple[ProtoFile, tuple[int, ...], Any]] = {}
        self._enums: dict[str, tuple[ProtoFile, tuple[int, ...], Any]] = {}
        for file in files:
            prefix = file.proto.package
            for i, message in enumerate(file.proto.message_type):
                self._index_message(file, f"{prefix}.{message.name}", (_MESSAGE_TYPE, i), message)
            for i, enum in enumerate(file.proto.enum_type):
                self._enums[f"{prefix}.{enum.name}"] = (file, (_ENUM_TYPE, i), enum)
        self.schemas: dict[str, dict[str, Any]] = {}

    def _index_message(
        self, file: ProtoFile, name: str, path: tuple[int, ...], message: Any
    ) -> None:
        self._messages[name] = (file, path, message)
        for i, nested in enumerate(message.nested_type):
            self._index_message(file, f"{name}.{nested.name}", (*path, _NESTED_TYPE, i), nested)
        for i, enum in enumerate(message.enum_type):
            self._enums[f"{name}.{enum.name}"] = (file, (*path, 4, i), enum)

    def reference(self, full_name: str) -> dict[str, Any]:
        """A $ref to the named message's schema, building it (and what it uses) once."""
        if full_name in _WELL_KNOWN:
            return dict(_WELL_KNOWN[full_name])
        if full_name in self._enums:
            if full_name not in self.schemas:
                self.schemas[full_name] = self._enum_schema(full_name)
            return {"$ref": f"#/components/schemas/{full_name}"}
        if full_name not in self.schemas:
            self.schemas[full_name] = {}  # placeholder: recursive messages end here
            self.schemas[full_name] = self._message_schema(full_name)
        return {"$ref": f"#/components/schemas/{full_name}"}

    def _message_schema(self, full_name: str) -> dict[str, Any]:
        file, path, message = self._messages[full_name]
        properties: dict[str, Any] = {}
        for i, field in enumerate(message.field):
            schema = self._field_schema(field)
            comment = file.comments.get((*path, _FIELD, i))
            if comment:
                schema["description"] = comment
            schema["x-protobuf-field"] = {"name": field.name, "number": field.number}
            properties[field.json_name] = schema
        schema: dict[str, Any] = {
            "type": "object",
            "title": message.name,
            "x-protobuf-type": full_name,
            "properties": properties,
        }
        comment = file.comments.get(path)
        if comment:
            schema["description"] = comment
        return schema

    def _field_schema(self, field: Any) -> dict[str, Any]:
        type_name = field.type_name.lstrip(".")
        entry = self._messages.get(type_name)
        if entry is not None and entry[2].options.map_entry:
            _key, value = entry[2].field
            return {"type": "object", "additionalProperties": self._field_schema(value)}
        if field.type in (FieldProto.TYPE_MESSAGE, FieldProto.TYPE_ENUM):
            single = self.reference(type_name)
        else:
            single = dict(_SCALARS[field.type])
        if field.label == FieldProto.LABEL_REPEATED:
            return {"type": "array", "items": single}
        return single

    def _enum_schema(self, full_name: str) -> dict[str, Any]:
        file, path, enum = self._enums[full_name]
        values = [value.name for value in enum.value]
        notes = [
            f"{value.name}: {file.comments[(*path, _ENUM_VALUE, i)]}"
            for i, value in enumerate(enum.value)
            if (*path, _ENUM_VALUE, i) in file.comments
        ]
        description = " ".join([file.comments.get(path, ""), *notes]).strip()
        schema: dict[str, Any] = {
            "type": "string",
            "title": enum.name,
            "enum": values,
            "x-protobuf-type": full_name,
            "x-protobuf-numbers": {value.name: value.number for value in enum.value},
        }
        if description:
            schema["description"] = description
        return schema
