"""A new user's first hour: reflection under v1 and v1alpha, the shipped client
(`python -m kernel.call`) and `python -m kernel.auth mint`, each run as a user would."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from grpc_reflection.v1alpha import reflection_pb2

from kernel.auth import TokenVerifier, generate_keys
from tests.integration.conftest import Running
from tests.integration.inventory_fixtures import (
    InventoryClient,
    inv,
    inventory_service,
    register_part,
)

REPO = Path(__file__).resolve().parents[2]
ENV = {**os.environ, "PYTHONPATH": f"{REPO}:{REPO / 'gen'}"}

__all__ = ["inv", "inventory_service"]


async def reflected_services(run: Running, package: str) -> list[str]:
    ask = run.channel.stream_stream(
        f"/grpc.reflection.{package}.ServerReflection/ServerReflectionInfo",
        request_serializer=reflection_pb2.ServerReflectionRequest.SerializeToString,
        response_deserializer=reflection_pb2.ServerReflectionResponse.FromString,
    )
    call = ask(iter([reflection_pb2.ServerReflectionRequest(list_services="")]))
    replies = [reply async for reply in call]
    return sorted(s.name for s in replies[0].list_services_response.service)


@pytest.mark.parametrize("package", ["v1", "v1alpha"])
async def test_reflection_answers_v1_and_v1alpha(inventory_service: Running, package: str) -> None:
    names = await reflected_services(inventory_service, package)

    assert "storemesh.inventory.v1.InventoryService" in names
    assert "grpc.health.v1.Health" in names


async def run_cli(*args: str, cwd: Path, env: dict[str, str] | None = None) -> tuple[int, str, str]:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        *args,
        cwd=cwd,
        env=env or ENV,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), 60)
    return process.returncode or 0, out.decode(), err.decode()


async def test_the_shipped_client_calls_any_rpc_by_reflection_from_any_directory(
    inv: InventoryClient, mint: Callable[..., str], tmp_path: Path
) -> None:
    await register_part(inv, "BRK-PAD-F")
    await inv.ReceiveStock(store_id="SZ01", part_number="BRK-PAD-F", quantity=3)
    address = f"127.0.0.1:{inv.run.service.host.port}"
    env = {**ENV, "STOREMESH_TOKEN": mint("hq")}

    code, out, err = await run_cli(
        "-m",
        "kernel.call",
        address,
        "FindStock",
        '{"part_number": "BRK-PAD-F", "min_available": 1}',
        cwd=tmp_path,
        env=env,
    )

    assert code == 0, err
    found: Any = json.loads(out)
    assert [(s["store_id"], s["available"]) for s in found["stores"]] == [
        ("SZ01", "3")
    ]  # int64 is a JSON string


async def test_the_shipped_client_adds_a_request_id_and_prints_a_refusal_with_its_details(
    inv: InventoryClient, mint: Callable[..., str], tmp_path: Path
) -> None:
    await register_part(inv, "BRK-PAD-F")
    address = f"127.0.0.1:{inv.run.service.host.port}"
    env = {**ENV, "STOREMESH_TOKEN": mint("hq")}
    method = "storemesh.inventory.v1.InventoryService/ReceiveStock"

    ok = await run_cli(
        "-m",
        "kernel.call",
        address,
        method,
        '{"store_id": "SZ01", "part_number": "BRK-PAD-F", "quantity": 2}',
        cwd=tmp_path,
        env=env,
    )
    refused = await run_cli(
        "-m",
        "kernel.call",
        address,
        method,
        '{"store_id": "a/../b", "part_number": "BRK-PAD-F", "quantity": 2}',
        cwd=tmp_path,
        env=env,
    )

    assert ok[0] == 0, ok[2]
    assert json.loads(ok[1])["on_hand"] == "2"
    assert refused[0] == 1
    error = json.loads(refused[2])
    assert error["code"] == "INVALID_ARGUMENT"
    assert [v["field"] for v in error["BadRequest"]["field_violations"]] == ["store_id"]


async def test_the_shipped_client_reads_the_token_make_run_wrote(
    inv: InventoryClient, mint: Callable[..., str], tmp_path: Path
) -> None:
    (tmp_path / "var" / "tokens").mkdir(parents=True)
    (tmp_path / "var" / "tokens" / "hq.token").write_text(mint("hq") + "\n")
    env = {k: v for k, v in ENV.items() if k != "STOREMESH_TOKEN"}
    env["STOREMESH_VAR"] = str(tmp_path / "var")

    code, out, err = await run_cli(
        "-m",
        "kernel.call",
        f"127.0.0.1:{inv.run.service.host.port}",
        "ListParts",
        cwd=tmp_path,
        env=env,
    )

    assert code == 0, err
    assert json.loads(out) == {}


async def test_minting_works_from_any_directory_and_help_shows_the_defaults(
    tmp_path: Path,
) -> None:
    private_key, public_key = generate_keys(tmp_path / "var" / "keys")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = {**ENV, "STOREMESH_VAR": str(tmp_path / "var")}

    code, help_text, _ = await run_cli(
        "-m", "kernel.auth", "mint", "--help", cwd=elsewhere, env={**env, "COLUMNS": "400"}
    )
    minted = await run_cli(
        "-m", "kernel.auth", "mint", "--role", "dms", "--store", "SZ01", cwd=elsewhere, env=env
    )

    assert code == 0
    assert f"(default: {private_key})" in help_text
    assert "(default: hq)" in help_text and "(default: 12.0)" in help_text
    assert minted[0] == 0, minted[2]
    principal = TokenVerifier.from_file(public_key).verify(minted[1].strip())
    assert (principal.role, sorted(principal.stores)) == ("dms", ["SZ01"])


async def test_minting_without_a_key_says_how_to_get_one(tmp_path: Path) -> None:
    env = {**ENV, "STOREMESH_VAR": str(tmp_path / "empty")}

    code, _, err = await run_cli("-m", "kernel.auth", "mint", cwd=tmp_path, env=env)

    assert code == 2
    assert "make run" in err and "keygen" in err
