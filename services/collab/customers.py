"""The waiting customer of a transfer: sealed on the way in, unsealed on the way out,
forgotten on HQ's word (kernel/personal_data.py does the cryptography)."""

from __future__ import annotations

import dataclasses
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncConnection

from kernel.application import Application, UnitOfWork
from kernel.personal_data import PersonalData
from services.collab import read_model
from services.collab.domain.commands import Customer, ForgetCustomer, RequestTransfer
from services.collab.domain.events import TransferRequested

# Left out of a command's fingerprint: the command log must not keep a digest of a phone
# number (short enough to guess back) after the customer is forgotten.
PERSONAL_FIELDS = ("customer_name", "customer_phone")


class Customers:
    def __init__(self, app: Application) -> None:
        self.app = app
        self.personal = PersonalData()

    async def sealed_into(
        self, uow: UnitOfWork, command: RequestTransfer, event: TransferRequested
    ) -> TransferRequested:
        """The request's event with the waiting customer: the reference as is, name and
        phone sealed under the customer's key in this transaction."""
        if not command.customer_ref:
            return event
        sealed = await self.personal.seal(
            uow.conn,
            command.customer_ref,
            {"name": command.customer_name, "phone": command.customer_phone},
            command.at,
        )
        return dataclasses.replace(
            event,
            customer_ref=command.customer_ref,
            customer_name=sealed["name"],
            customer_phone=sealed["phone"],
        )

    async def of(self, transfer_id: str) -> Customer | None:
        """The transfer's waiting customer, unsealed now: "[forgotten]" once forgotten."""

        async def fetch(conn: AsyncConnection) -> Customer | None:
            row = await read_model.transfer_customer(conn, transfer_id)
            if row is None:
                return None
            clear = await self.personal.unseal(
                conn, row.customer_ref, {"name": row.name, "phone": row.phone}
            )
            return Customer(row.customer_ref, clear["name"], clear["phone"])

        return await self.app.query(fetch)

    async def forget(self, command: ForgetCustomer, request_id: str) -> datetime:
        async def handler(uow: UnitOfWork) -> datetime:
            return await self.personal.forget(uow.conn, command.customer_ref, command.at)

        return await self.app.handle(command, handler, request_id=request_id, result_type=datetime)
