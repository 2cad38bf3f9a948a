"""Jito block-engine client: sendBundle, get(Inflight)BundleStatuses, getTipAccounts.

A bundle is 1-5 signed transactions, executed in order and all-or-nothing; the tip is a
System transfer to one of the tip accounts, placed inside the last transaction. Tip accounts
are fetched from the block engine and only used if they are among the known mainnet ones.
"""

from __future__ import annotations

import asyncio
import base64
import json
import math
import random
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx2
from solders.instruction import Instruction
from solders.pubkey import Pubkey
from solders.signature import Signature
from solders.transaction import VersionedTransaction

from apps.chain.budget import BUNDLE, Budget, BudgetPaused, method_class
from apps.chain.constants import JITO_TIP_ACCOUNTS
from apps.chain.errors import BundleRejected, PermanentRpcError, RateLimited, TransientRpcError
from apps.chain.rpc import RpcPool, in_process_http_client
from apps.chain.spl import sol_transfer

MAX_BUNDLE_TRANSACTIONS = 5
BUNDLES_PATH = "/api/v1/bundles"
TOOK_KEPT = 1024

# Public mainnet block engines by region (configuration may override or extend).
JITO_REGIONS: Mapping[str, str] = {
    "mainnet": "https://mainnet.block-engine.jito.wtf",
    "amsterdam": "https://amsterdam.mainnet.block-engine.jito.wtf",
    "frankfurt": "https://frankfurt.mainnet.block-engine.jito.wtf",
    "london": "https://london.mainnet.block-engine.jito.wtf",
    "ny": "https://ny.mainnet.block-engine.jito.wtf",
    "slc": "https://slc.mainnet.block-engine.jito.wtf",
    "singapore": "https://singapore.mainnet.block-engine.jito.wtf",
    "tokyo": "https://tokyo.mainnet.block-engine.jito.wtf",
}


def tip_instruction(*, payer: Pubkey, tip_account: Pubkey, lamports: int) -> Instruction:
    """The tip: a System transfer to a tip account (put it in the bundle's last transaction)."""
    return sol_transfer(source=payer, destination=tip_account, lamports=lamports)


@dataclass(frozen=True)
class BundleStatus:
    bundle_id: str
    status: str  # Landed | Failed | Pending | Invalid
    slot: int | None = None
    transactions: tuple[Signature, ...] = ()


@dataclass
class JitoClient:
    """One block engine. `base_url` is the region's URL (or the localnet's); `auth_uuid`
    goes in the `x-jito-auth` header when set; `asgi_app` serves requests in-process.
    `budget` (shared by every process, see `apps.chain.budget`) is asked before each request
    under the name `budget_endpoint` (the region, or region and UUID) and told of 429s."""

    base_url: str
    auth_uuid: str | None = None
    timeout_s: float = 10.0
    asgi_app: Any = None
    known_tip_accounts: frozenset[Pubkey] = field(
        default_factory=lambda: frozenset(JITO_TIP_ACCOUNTS)
    )
    rng: random.Random = field(default_factory=random.SystemRandom)
    budget: Budget | None = None
    budget_endpoint: str = "jito"

    @classmethod
    def for_region(
        cls, region: str, *, regions: Mapping[str, str] = JITO_REGIONS, **kwargs: Any
    ) -> JitoClient:
        try:
            return cls(base_url=regions[region], **kwargs)
        except KeyError:
            raise ValueError(
                f"unknown Jito region {region!r}; known: {', '.join(sorted(regions))}"
            ) from None

    def _http(self) -> httpx2.AsyncClient:
        headers = {"Content-Type": "application/json"}
        if self.auth_uuid:
            headers["x-jito-auth"] = self.auth_uuid
        if self.asgi_app is not None:
            return in_process_http_client(self.asgi_app, timeout_s=self.timeout_s, headers=headers)
        return httpx2.AsyncClient(timeout=httpx2.Timeout(self.timeout_s), headers=headers)

    async def _rpc(self, method: str, params: list, *, budget_taken: bool = False) -> Any:
        body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": method, "params": params})
        url = self.base_url.rstrip("/") + BUNDLES_PATH
        if self.budget is not None and not budget_taken:
            await self.budget.acquire(
                endpoint=self.budget_endpoint, method_class=method_class(method)
            )
        try:
            async with self._http() as http:
                response = await asyncio.wait_for(http.post(url, content=body), self.timeout_s)
        except (TimeoutError, httpx2.HTTPError, OSError) as exc:
            raise TransientRpcError(
                f"block engine unreachable: {exc}", endpoint=self.base_url
            ) from exc
        if response.status_code == 429:
            retry_after = response.headers.get("Retry-After", "")
            seconds = float(retry_after) if retry_after.isdigit() else 1.0
            if self.budget is not None:
                # The block engine's budget is spent for every process sharing it.
                self.budget.pause(endpoint=self.budget_endpoint, seconds=seconds)
            raise RateLimited(
                "block engine answered 429", endpoint=self.base_url, retry_after_s=seconds
            )
        if response.status_code >= 500:
            raise TransientRpcError(
                f"block engine answered {response.status_code}", endpoint=self.base_url
            )
        if response.status_code >= 400:
            raise PermanentRpcError(
                f"block engine answered {response.status_code}", endpoint=self.base_url
            )
        payload = response.json()
        if "error" in payload:
            error = payload["error"]
            raise BundleRejected(
                error.get("message", str(error)), endpoint=self.base_url, code=error.get("code")
            )
        return payload["result"]

    async def get_tip_accounts(self) -> list[Pubkey]:
        """Tip accounts from the block engine that are also known mainnet tip accounts."""
        fetched = [Pubkey.from_string(s) for s in await self._rpc("getTipAccounts", [])]
        valid = [k for k in fetched if k in self.known_tip_accounts]
        if not valid:
            raise PermanentRpcError(
                "block engine returned no known tip account", endpoint=self.base_url
            )
        return valid

    async def pick_tip_account(self) -> Pubkey:
        return self.rng.choice(await self.get_tip_accounts())

    def budget_wait_s(self, method_class: str) -> float:
        """Take one `method_class` token of this engine's budget if it has one now (0.0), else
        the seconds until it may have (`math.inf` while a 429 pauses it); no budget: 0.0."""
        if self.budget is None:
            return 0.0
        paused, wait_s = self.budget.reserve(
            endpoint=self.budget_endpoint, method_class=method_class
        )
        return math.inf if paused else wait_s

    async def send_bundle(
        self, transactions: Sequence[VersionedTransaction], *, budget_taken: bool = False
    ) -> str:
        """Submit 1-5 signed transactions; returns the bundle id. `budget_taken`: the caller
        took the request's budget already (`budget_wait_s`)."""
        if not 1 <= len(transactions) <= MAX_BUNDLE_TRANSACTIONS:
            raise BundleRejected(
                f"a bundle holds 1 to {MAX_BUNDLE_TRANSACTIONS} transactions, "
                f"got {len(transactions)}"
            )
        encoded = [base64.b64encode(bytes(tx)).decode() for tx in transactions]
        return await self._rpc(
            "sendBundle", [encoded, {"encoding": "base64"}], budget_taken=budget_taken
        )

    async def get_bundle_statuses(self, bundle_ids: Sequence[str]) -> list[BundleStatus | None]:
        """Landed bundles (None for bundles not landed or unknown)."""
        result = await self._rpc("getBundleStatuses", [list(bundle_ids)])
        out: list[BundleStatus | None] = []
        for item in result["value"]:
            if item is None:
                out.append(None)
                continue
            out.append(
                BundleStatus(
                    bundle_id=item["bundle_id"],
                    status="Landed",
                    slot=item["slot"],
                    transactions=tuple(Signature.from_string(s) for s in item["transactions"]),
                )
            )
        return out

    async def get_inflight_bundle_statuses(self, bundle_ids: Sequence[str]) -> list[BundleStatus]:
        result = await self._rpc("getInflightBundleStatuses", [list(bundle_ids)])
        return [
            BundleStatus(
                bundle_id=item["bundle_id"], status=item["status"], slot=item.get("landed_slot")
            )
            for item in result["value"]
        ]

    async def confirm_bundle(
        self,
        *,
        bundle_id: str,
        rpc: RpcPool,
        last_valid_block_height: int,
        poll_interval_s: float = 0.4,
    ) -> BundleStatus:
        """Poll until the bundle landed or failed, or its blockhash window passed (Expired)."""
        while True:
            (inflight,) = await self.get_inflight_bundle_statuses([bundle_id])
            if inflight.status in ("Landed", "Failed"):
                return inflight
            height = await rpc.call("getBlockHeight", lambda c: c.get_block_height())
            if height.value > last_valid_block_height:
                return BundleStatus(bundle_id=bundle_id, status="Expired")
            await asyncio.sleep(poll_interval_s)


@dataclass
class JitoRotation:
    """Several block engines (regions, UUIDs), each with its own budget, used as one: a bundle
    goes to the next engine in turn whose budget has a `bundle` token now, so no engine is
    sent more than its budget and the load spreads over all of them; when none has one, it
    waits for the one that refills first. A bundle's statuses are asked of the engine that
    took it. Tip accounts are the same on every engine (the tip-payment program's)."""

    clients: Sequence[JitoClient]
    _next: int = 0
    # Which engine took each recent bundle (the last TOOK_KEPT), to ask it the status.
    _took: OrderedDict[str, JitoClient] = field(default_factory=OrderedDict)

    def __post_init__(self) -> None:
        if not self.clients:
            raise ValueError("a Jito rotation needs at least one block engine")

    def _engine_with_budget(self) -> tuple[JitoClient | None, float]:
        """The next engine in turn whose budget gave a token (None: the shortest wait)."""
        count, waits = len(self.clients), []
        for step in range(count):
            index = (self._next + step) % count
            wait_s = self.clients[index].budget_wait_s(BUNDLE)
            if wait_s == 0:
                self._next = index + 1
                return self.clients[index], 0.0
            waits.append(wait_s)
        return None, min(waits)

    async def send_bundle(self, transactions: Sequence[VersionedTransaction]) -> str:
        while True:
            client, wait_s = self._engine_with_budget()
            if client is not None:
                bundle_id = await client.send_bundle(transactions, budget_taken=True)
                self._took[bundle_id] = client
                while len(self._took) > TOOK_KEPT:
                    self._took.popitem(last=False)
                return bundle_id
            if math.isinf(wait_s):
                raise BudgetPaused(
                    "every Jito block engine is paused by a 429", endpoint="jito",
                    retry_after_s=1.0,
                )  # fmt: skip
            # Jittered so that processes woken together do not all ask again in one instant.
            await asyncio.sleep(wait_s * random.uniform(1.0, 1.25))

    def engine_of(self, bundle_id: str) -> JitoClient:
        """The engine that took `bundle_id` (the first one for a bundle sent elsewhere)."""
        return self._took.get(bundle_id, self.clients[0])

    async def pick_tip_account(self) -> Pubkey:
        return await self.clients[0].pick_tip_account()

    async def get_inflight_bundle_statuses(self, bundle_ids: Sequence[str]) -> list[BundleStatus]:
        (bundle_id,) = bundle_ids
        return await self.engine_of(bundle_id).get_inflight_bundle_statuses([bundle_id])
