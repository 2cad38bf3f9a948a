"""The localnet's JSON-RPC server (ASGI): the Solana RPC subset and the Jito block engine.

Answers are built with solders' own response types (`…Resp(...).to_json()`), so solana-py
parses them exactly as it parses a real node. `Faults` make one endpoint misbehave; two apps
built over the same `Cluster` are two endpoints of one cluster (failover tests).
"""

from __future__ import annotations

import asyncio
import base64
import json
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from solders.hash import Hash
from solders.message import from_bytes_versioned
from solders.pubkey import Pubkey
from solders.rpc import errors as rpc_errors
from solders.rpc import responses as R
from solders.signature import Signature
from solders.transaction import VersionedTransaction
from solders.transaction_status import (
    EncodedConfirmedTransactionWithStatusMeta,
    EncodedTransactionWithStatusMeta,
    TransactionConfirmationStatus,
    TransactionStatus,
    UiTransactionStatusMeta,
)
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from apps.chain.b58 import b58decode
from apps.localnet.cluster import (
    BundleInvalid,
    Cluster,
    LocalnetError,
    TransactionFailed,
    instruction_error_message,
)

SOLANA_CORE_VERSION = "2.2.20"
_INVALID_PARAMS = -32602
_METHOD_NOT_FOUND = -32601
_PREFLIGHT_FAILURE = -32002
_SIGNATURE_FAILURE = -32003


@dataclass
class Faults:
    """Misbehaviour of one endpoint; change the fields at any time.

    `down`: in-process clients get a connection error, HTTP clients a 503.
    `rate_limited`: every request is answered 429 (with Retry-After).
    `latency_s`: added before answering.  `drop_transactions`: sendTransaction answers with
    the signature but the transaction never reaches the cluster.
    `request_budget_per_s`: a provider's request budget (0: none). Each JSON-RPC request (each
    item of a batch) takes one token from a bucket refilled at that rate and holding at most
    `request_budget_burst` (0: one second's worth); past it the endpoint answers 429 with the
    Retry-After a provider gives, as Helius or Jito do. `requests_served` and
    `requests_refused` (429 answers) count what the endpoint saw.
    """

    latency_s: float = 0.0
    rate_limited: bool = False
    retry_after_s: int = 1
    down: bool = False
    drop_transactions: bool = False
    request_budget_per_s: float = 0.0
    request_budget_burst: int = 0
    requests_served: int = 0
    requests_refused: int = 0
    _budget_tokens: float | None = field(default=None, repr=False)
    _budget_stamp: float = field(default=0.0, repr=False)

    def admit(self, cost: int) -> int | None:
        """Take `cost` requests from the budget: None when admitted, else the whole seconds
        to wait (Retry-After). Called from the server's one event loop, so no lock."""
        if self.request_budget_per_s <= 0:
            self.requests_served += cost
            return None
        burst = self.request_budget_burst or math.ceil(self.request_budget_per_s)
        now = time.monotonic()
        if self._budget_tokens is None:
            self._budget_tokens = float(burst)
        else:
            refill = (now - self._budget_stamp) * self.request_budget_per_s
            self._budget_tokens = min(float(burst), self._budget_tokens + refill)
        self._budget_stamp = now
        if self._budget_tokens >= cost:
            self._budget_tokens -= cost
            self.requests_served += cost
            return None
        self.requests_refused += 1
        missing = cost - self._budget_tokens
        return max(1, math.ceil(missing / self.request_budget_per_s))


class RpcFailure(Exception):
    def __init__(self, code: int, message: str, data: Any = None):
        super().__init__(message)
        self.code = code
        self.message = message
        self.data = data


def _with_id(payload: str, request_id: Any) -> str:
    # solders serializes responses with id 0; put the caller's id back.
    assert payload.endswith('"id":0}')
    return f"{payload[:-2]}{json.dumps(request_id)}}}"


def _decode_tx(encoded: str, encoding: str) -> VersionedTransaction:
    try:
        raw = base64.b64decode(encoded) if encoding == "base64" else b58decode(encoded)
        return VersionedTransaction.from_bytes(raw)
    except (ValueError, TypeError) as exc:
        raise RpcFailure(_INVALID_PARAMS, f"failed to deserialize transaction: {exc}") from exc


def _pubkey(value: Any) -> Pubkey:
    try:
        return Pubkey.from_string(value)
    except (ValueError, TypeError) as exc:
        raise RpcFailure(_INVALID_PARAMS, f"Invalid param: {value!r} is not a pubkey") from exc


def _config(params: list, index: int) -> dict:
    return params[index] if len(params) > index and isinstance(params[index], dict) else {}


class LocalnetRpc:
    """Dispatches JSON-RPC methods to a cluster."""

    def __init__(self, cluster: Cluster, faults: Faults):
        self.cluster = cluster
        self.faults = faults
        self._methods: dict[str, Callable[[list], str]] = {
            "getLatestBlockhash": self.get_latest_blockhash,
            "getBlockHeight": lambda p: R.GetBlockHeightResp(self.cluster.block_height).to_json(),
            "getSlot": lambda p: R.GetSlotResp(self.cluster.slot).to_json(),
            "getHealth": lambda p: R.GetHealthResp("ok").to_json(),
            "getVersion": lambda p: R.GetVersionResp(
                R.RpcVersionInfo(SOLANA_CORE_VERSION, 0)
            ).to_json(),
            "getGenesisHash": lambda p: R.GetGenesisHashResp(self.cluster.genesis_hash).to_json(),
            "getBalance": self.get_balance,
            "getAccountInfo": self.get_account_info,
            "getMultipleAccounts": self.get_multiple_accounts,
            "getProgramAccounts": self.get_program_accounts,
            "getTokenAccountsByOwner": self.get_token_accounts_by_owner,
            "getTokenAccountBalance": self.get_token_account_balance,
            "getSignatureStatuses": self.get_signature_statuses,
            "getTransaction": self.get_transaction,
            "sendTransaction": self.send_transaction,
            "simulateTransaction": self.simulate_transaction,
            "getRecentPrioritizationFees": self.get_recent_prioritization_fees,
            "getMinimumBalanceForRentExemption": lambda p: R.GetMinimumBalanceForRentExemptionResp(
                self.cluster.minimum_balance_for_rent_exemption(int(p[0]))
            ).to_json(),
            "getFeeForMessage": self.get_fee_for_message,
            "isBlockhashValid": self.is_blockhash_valid,
            "requestAirdrop": self.request_airdrop,
        }
        self._bundle_methods: dict[str, Callable[[list], Any]] = {
            "sendBundle": self.send_bundle,
            "getBundleStatuses": self.get_bundle_statuses,
            "getInflightBundleStatuses": self.get_inflight_bundle_statuses,
            "getTipAccounts": lambda p: [str(k) for k in self.cluster.tip_accounts],
        }

    def _ctx(self) -> R.RpcResponseContext:
        return R.RpcResponseContext(self.cluster.slot)

    # -- Solana methods ------------------------------------------------------------------

    def get_latest_blockhash(self, params: list) -> str:
        blockhash, last_valid = self.cluster.latest_blockhash()
        return R.GetLatestBlockhashResp(
            R.RpcBlockhash(blockhash, last_valid), self._ctx()
        ).to_json()

    def get_balance(self, params: list) -> str:
        return R.GetBalanceResp(self.cluster.get_balance(_pubkey(params[0])), self._ctx()).to_json()

    def get_account_info(self, params: list) -> str:
        return R.GetAccountInfoResp(
            self.cluster.get_account(_pubkey(params[0])), self._ctx()
        ).to_json()

    def get_multiple_accounts(self, params: list) -> str:
        accounts = [self.cluster.get_account(_pubkey(k)) for k in params[0]]
        return R.GetMultipleAccountsResp(accounts, self._ctx()).to_json()

    def get_program_accounts(self, params: list) -> str:
        program = _pubkey(params[0])
        filters = _config(params, 1).get("filters") or []
        matched = []
        for address, acc in self.cluster.program_accounts(program):
            data = bytes(acc.data)
            if all(_matches(f, data) for f in filters):
                matched.append(R.RpcKeyedAccount(address, acc))
        if _config(params, 1).get("withContext"):
            return R.GetProgramAccountsWithContextResp(matched, self._ctx()).to_json()
        return R.GetProgramAccountsResp(matched).to_json()

    def get_token_accounts_by_owner(self, params: list) -> str:
        selector = params[1] if len(params) > 1 else {}
        mint = _pubkey(selector["mint"]) if "mint" in selector else None
        program = _pubkey(selector["programId"]) if "programId" in selector else None
        if mint is None and program is None:
            raise RpcFailure(_INVALID_PARAMS, "Invalid params: expected mint or programId")
        found = self.cluster.token_accounts_of(_pubkey(params[0]), mint=mint, program=program)
        keyed = [R.RpcKeyedAccount(a, acc) for a, acc in found]
        return R.GetTokenAccountsByOwnerResp(keyed, self._ctx()).to_json()

    def get_token_account_balance(self, params: list) -> str:
        amount = self.cluster.token_amount(_pubkey(params[0]))
        if amount is None:
            raise RpcFailure(_INVALID_PARAMS, "Invalid param: not a Token account")
        return R.GetTokenAccountBalanceResp(amount, self._ctx()).to_json()

    def get_signature_statuses(self, params: list) -> str:
        statuses = []
        for text in params[0]:
            record = self.cluster.status(Signature.from_string(text))
            if record is None:
                statuses.append(None)
                continue
            confirmations = self.cluster.confirmations(record)
            level = (
                TransactionConfirmationStatus.Finalized
                if confirmations is None
                else TransactionConfirmationStatus.Confirmed
            )
            statuses.append(
                TransactionStatus(record.slot, confirmations, record.err, record.err, level)
            )
        return R.GetSignatureStatusesResp(statuses, self._ctx()).to_json()

    def get_transaction(self, params: list) -> str:
        record = self.cluster.status(Signature.from_string(params[0]))
        if record is None or record.transaction is None:
            return R.GetTransactionResp(None).to_json()
        meta = UiTransactionStatusMeta(
            err=record.err,
            fee=record.fee,
            pre_balances=record.pre_balances,
            post_balances=record.post_balances,
            inner_instructions=[],
            log_messages=record.logs,
            pre_token_balances=record.pre_token_balances,
            post_token_balances=record.post_token_balances,
            rewards=[],
            compute_units_consumed=record.compute_units,
        )
        tx = record.transaction
        version = tx.version()
        encoded = EncodedTransactionWithStatusMeta(tx, meta, version)
        confirmed = EncodedConfirmedTransactionWithStatusMeta(
            record.slot, encoded, record.block_time
        )
        return R.GetTransactionResp(confirmed).to_json()

    def send_transaction(self, params: list) -> str:
        config = _config(params, 1)
        tx = _decode_tx(params[0], config.get("encoding", "base58"))
        signature = tx.signatures[0]
        if self.faults.drop_transactions:
            return R.SendTransactionResp(signature).to_json()
        try:
            self.cluster.send(tx, preflight=not config.get("skipPreflight", False))
        except TransactionFailed as failed:
            result = R.RpcSimulateTransactionResult(
                err=failed.err, logs=failed.logs, accounts=None, units_consumed=failed.units
            )
            message = f"Transaction simulation failed: {instruction_error_message(failed.err)}"
            failure = rpc_errors.SendTransactionPreflightFailureMessage(message, result)
            raise RpcFailure(
                _PREFLIGHT_FAILURE, message, json.loads(failure.to_json())["data"]
            ) from None
        except LocalnetError as exc:
            code = _SIGNATURE_FAILURE if "signature" in str(exc) else _INVALID_PARAMS
            raise RpcFailure(code, str(exc)) from None
        return R.SendTransactionResp(signature).to_json()

    def simulate_transaction(self, params: list) -> str:
        config = _config(params, 1)
        tx = _decode_tx(params[0], config.get("encoding", "base58"))
        replace = bool(config.get("replaceRecentBlockhash", False))
        try:
            sim = self.cluster.simulate(
                tx, sig_verify=bool(config.get("sigVerify", False)), replace_blockhash=replace
            )
        except LocalnetError as exc:
            raise RpcFailure(_INVALID_PARAMS, str(exc)) from None
        replacement = None
        if replace:
            blockhash, last_valid = self.cluster.latest_blockhash()
            replacement = R.RpcBlockhash(blockhash, last_valid)
        result = R.RpcSimulateTransactionResult(
            err=sim.err,
            logs=sim.logs,
            accounts=None,
            units_consumed=sim.units,
            replacement_blockhash=replacement,
            fee=sim.fee,
        )
        return R.SimulateTransactionResp(result, self._ctx()).to_json()

    def get_recent_prioritization_fees(self, params: list) -> str:
        accounts = [_pubkey(k) for k in (params[0] if params else [])]
        fees = [
            R.RpcPrioritizationFee(s, f)
            for s, f in self.cluster.recent_prioritization_fees(accounts)
        ]
        return R.GetRecentPrioritizationFeesResp(fees).to_json()

    def get_fee_for_message(self, params: list) -> str:
        try:
            message = from_bytes_versioned(base64.b64decode(params[0]))
        except (ValueError, TypeError) as exc:
            raise RpcFailure(_INVALID_PARAMS, f"failed to deserialize message: {exc}") from exc
        fee = (
            self.cluster.fee_for_message(message)
            if self.cluster.is_blockhash_valid(message.recent_blockhash)
            else None
        )
        return R.GetFeeForMessageResp(fee, self._ctx()).to_json()

    def is_blockhash_valid(self, params: list) -> str:
        valid = self.cluster.is_blockhash_valid(Hash.from_string(params[0]))
        return R.IsBlockhashValidResp(valid, self._ctx()).to_json()

    def request_airdrop(self, params: list) -> str:
        return R.RequestAirdropResp(
            self.cluster.airdrop(_pubkey(params[0]), int(params[1]))
        ).to_json()

    # -- Jito block engine ---------------------------------------------------------------

    def send_bundle(self, params: list) -> str:
        encoded = params[0] if params else []
        encoding = _config(params, 1).get("encoding", "base58")
        txs = [_decode_tx(t, encoding) for t in encoded]
        try:
            return self.cluster.send_bundle(txs)
        except BundleInvalid as exc:
            raise RpcFailure(_INVALID_PARAMS, str(exc)) from None

    def get_bundle_statuses(self, params: list) -> dict:
        value = []
        for bundle_id in params[0]:
            record = self.cluster.bundle(bundle_id)
            if record is None or not record.landed:
                value.append(None)
                continue
            value.append(
                {
                    "bundle_id": bundle_id,
                    "transactions": [str(s) for s in record.signatures],
                    "slot": record.slot,
                    "confirmation_status": "confirmed",
                    "err": {"Ok": None},
                }
            )
        return {"context": {"slot": self.cluster.slot}, "value": value}

    def get_inflight_bundle_statuses(self, params: list) -> dict:
        value = []
        for bundle_id in params[0]:
            record = self.cluster.bundle(bundle_id)
            status = "Invalid" if record is None else ("Landed" if record.landed else "Failed")
            value.append(
                {
                    "bundle_id": bundle_id,
                    "status": status,
                    "landed_slot": record.slot if record and record.landed else None,
                }
            )
        return {"context": {"slot": self.cluster.slot}, "value": value}

    # -- dispatch ------------------------------------------------------------------------

    def handle(self, request: Any, *, bundles: bool) -> str:
        if not isinstance(request, dict) or "method" not in request:
            return json.dumps(_error_envelope(None, -32600, "Invalid request"))
        request_id = request.get("id")
        params = request.get("params") or []
        table = self._bundle_methods if bundles else self._methods
        method = table.get(request["method"])
        try:
            if method is None:
                raise RpcFailure(_METHOD_NOT_FOUND, "Method not found")
            result = method(params)
        except RpcFailure as failure:
            return json.dumps(
                _error_envelope(request_id, failure.code, failure.message, failure.data)
            )
        except (IndexError, KeyError, TypeError, ValueError) as exc:
            return json.dumps(
                _error_envelope(request_id, _INVALID_PARAMS, f"Invalid params: {exc}")
            )
        if isinstance(result, str) and not bundles:
            return _with_id(result, request_id)
        return json.dumps({"jsonrpc": "2.0", "result": result, "id": request_id})


def _error_envelope(request_id: Any, code: int, message: str, data: Any = None) -> dict:
    error: dict[str, Any] = {"code": code, "message": message}
    if data is not None:
        error["data"] = data
    return {"jsonrpc": "2.0", "error": error, "id": request_id}


def _matches(rule: dict, data: bytes) -> bool:
    if "dataSize" in rule:
        return len(data) == int(rule["dataSize"])
    memcmp = rule.get("memcmp")
    if memcmp is None:
        raise RpcFailure(_INVALID_PARAMS, f"unsupported filter {rule}")
    encoded = memcmp["bytes"]
    wanted = base64.b64decode(encoded) if memcmp.get("encoding") == "base64" else b58decode(encoded)
    offset = int(memcmp["offset"])
    return data[offset : offset + len(wanted)] == wanted


def create_app(cluster: Cluster, *, faults: Faults | None = None) -> Starlette:
    """An ASGI app serving `cluster`: JSON-RPC at `/`, Jito block engine at `/api/v1/bundles`."""
    rpc = LocalnetRpc(cluster, faults or Faults())

    async def serve(request: Request, *, bundles: bool) -> Response:
        faults = rpc.faults
        if faults.latency_s:
            await asyncio.sleep(faults.latency_s)
        if faults.down:
            return PlainTextResponse("endpoint down", status_code=503)
        if faults.rate_limited:
            return PlainTextResponse(
                "Too many requests",
                status_code=429,
                headers={"Retry-After": str(faults.retry_after_s)},
            )
        try:
            body = json.loads(await request.body())
        except ValueError:
            return JSONResponse(_error_envelope(None, -32700, "Parse error"))
        wait_s = faults.admit(len(body) if isinstance(body, list) else 1)
        if wait_s is not None:
            return PlainTextResponse(
                "Too many requests", status_code=429, headers={"Retry-After": str(wait_s)}
            )
        if isinstance(body, list):
            text = "[" + ",".join(rpc.handle(item, bundles=bundles) for item in body) + "]"
        else:
            text = rpc.handle(body, bundles=bundles)
        return Response(text, media_type="application/json")

    async def root(request: Request) -> Response:
        return await serve(request, bundles=False)

    async def bundles(request: Request) -> Response:
        return await serve(request, bundles=True)

    async def health(request: Request) -> Response:
        return PlainTextResponse("ok")

    app = Starlette(
        routes=[
            Route("/", root, methods=["POST"]),
            Route("/api/v1/bundles", bundles, methods=["POST"]),
            Route("/health", health, methods=["GET"]),
        ]
    )
    app.state.cluster = cluster
    app.state.faults = rpc.faults
    return app
