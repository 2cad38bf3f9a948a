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
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from solders.account import Account
from solders.hash import Hash
from solders.message import from_bytes_versioned
from solders.pubkey import Pubkey
from solders.rpc import errors as rpc_errors
from solders.rpc import responses as R
from solders.signature import Signature
from solders.transaction import Legacy, VersionedTransaction
from solders.transaction_status import (
    TransactionConfirmationStatus,
    TransactionStatus,
    UiTransactionStatusMeta,
)
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from apps.chain.b58 import b58decode
from apps.chain.spl import MINT_LEN, TOKEN_ACCOUNT_LEN, decode_mint, decode_token_account
from apps.localnet.cluster import (
    FINALIZED_AFTER_SLOTS,
    BundleInvalid,
    Cluster,
    LocalnetError,
    TransactionFailed,
    TxRecord,
    instruction_error_message,
)
from apps.localnet.encoding import (
    TRANSACTION_ENCODINGS,
    EncodingError,
    account_config,
    encode_account,
    encode_transaction,
    transaction_meta,
    unknown_variant,
)
from apps.localnet.parsed import MEMO_PROGRAM_IDS, TOKEN_PROGRAMS, ui_token_amount

SOLANA_CORE_VERSION = "2.2.20"
SLOTS_PER_EPOCH = 432_000
_MAX_MULTIPLE_ACCOUNTS = 100
_MAX_SIGNATURES = 1_000
_LARGEST_ACCOUNTS = 20
_TRANSACTION_DETAILS = ("full", "signatures", "none", "accounts")
_COMMITMENTS = ("processed", "confirmed", "finalized")
_BLOCK_NOT_AVAILABLE = -32004
_SLOT_SKIPPED = -32007
_UNSUPPORTED_TRANSACTION_VERSION = -32015
INVALID_PARAMS = -32602
METHOD_NOT_FOUND = -32601
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
        raise RpcFailure(INVALID_PARAMS, f"failed to deserialize transaction: {exc}") from exc


def parse_pubkey(value: Any) -> Pubkey:
    try:
        return Pubkey.from_string(value)
    except (ValueError, TypeError) as exc:
        raise RpcFailure(INVALID_PARAMS, f"Invalid param: {value!r} is not a pubkey") from exc


def _config(params: list, index: int) -> dict:
    return params[index] if len(params) > index and isinstance(params[index], dict) else {}


class LocalnetRpc:
    """Dispatches JSON-RPC methods to a cluster."""

    def __init__(self, cluster: Cluster, faults: Faults):
        self.cluster = cluster
        self.faults = faults
        # Requests served, by method (benchmarks count what a confirmed trade costs).
        self.calls: Counter[str] = Counter()
        # Block-engine requests by `x-jito-auth` UUID ("" without one): a block engine's
        # limits are per UUID, and tests check that each UUID got no more than its budget.
        self.bundle_requests_by_auth: Counter[str] = Counter()
        self._methods: dict[str, Callable[[list], str]] = {
            "getLatestBlockhash": self.get_latest_blockhash,
            "getBlockHeight": self.get_block_height,
            "getSlot": self.get_slot,
            "getBlock": self.get_block,
            "getBlockTime": self.get_block_time,
            "getEpochInfo": self.get_epoch_info,
            "getSignaturesForAddress": self.get_signatures_for_address,
            "getTokenSupply": self.get_token_supply,
            "getTokenLargestAccounts": self.get_token_largest_accounts,
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
        depth = _commitment_depth(_config(params, 0))
        blockhash, last_valid = self.cluster.latest_blockhash(depth=depth)
        return R.GetLatestBlockhashResp(
            R.RpcBlockhash(blockhash, last_valid), self._ctx()
        ).to_json()

    def get_balance(self, params: list) -> str:
        return R.GetBalanceResp(
            self.cluster.get_balance(parse_pubkey(params[0])), self._ctx()
        ).to_json()

    def _context(self) -> dict:
        return {"apiVersion": SOLANA_CORE_VERSION, "slot": self.cluster.slot}

    def _accounts_encoder(self, config: dict) -> Callable[[Account], dict]:
        try:
            encoding, data_slice = account_config(config)
        except EncodingError as exc:
            raise RpcFailure(INVALID_PARAMS, str(exc)) from None

        def encode(acc: Account) -> dict:
            try:
                return encode_account(
                    acc,
                    encoding=encoding,
                    data_slice=data_slice,
                    mint_decimals=lambda mint: mint_decimals(self.cluster, mint),
                )
            except EncodingError as exc:
                raise RpcFailure(INVALID_PARAMS, str(exc)) from None

        return encode

    def get_account_info(self, params: list) -> dict:
        encode = self._accounts_encoder(_config(params, 1))
        acc = self.cluster.get_account(parse_pubkey(params[0]))
        return {"context": self._context(), "value": encode(acc) if acc else None}

    def get_multiple_accounts(self, params: list) -> dict:
        encode = self._accounts_encoder(_config(params, 1))
        if len(params[0]) > _MAX_MULTIPLE_ACCOUNTS:
            raise RpcFailure(
                INVALID_PARAMS, f"Too many inputs provided; max {_MAX_MULTIPLE_ACCOUNTS}"
            )
        accounts = [self.cluster.get_account(parse_pubkey(k)) for k in params[0]]
        value = [encode(acc) if acc else None for acc in accounts]
        return {"context": self._context(), "value": value}

    def get_program_accounts(self, params: list) -> Any:
        program = parse_pubkey(params[0])
        config = _config(params, 1)
        encode = self._accounts_encoder(config)
        filters = config.get("filters") or []
        matched = []
        for address, acc in self.cluster.program_accounts(program):
            data = bytes(acc.data)
            if all(filter_matches(f, data) for f in filters):
                matched.append({"account": encode(acc), "pubkey": str(address)})
        if config.get("withContext"):
            return {"context": self._context(), "value": matched}
        return matched

    def get_token_accounts_by_owner(self, params: list) -> dict:
        selector = params[1] if len(params) > 1 else {}
        mint = parse_pubkey(selector["mint"]) if "mint" in selector else None
        program = parse_pubkey(selector["programId"]) if "programId" in selector else None
        if mint is None and program is None:
            raise RpcFailure(INVALID_PARAMS, "Invalid params: expected mint or programId")
        if program is not None and program not in TOKEN_PROGRAMS:
            raise RpcFailure(INVALID_PARAMS, "Invalid param: unrecognized Token program id")
        encode = self._accounts_encoder(_config(params, 2))
        found = self.cluster.token_accounts_of(parse_pubkey(params[0]), mint=mint, program=program)
        value = [{"account": encode(acc), "pubkey": str(a)} for a, acc in found]
        return {"context": self._context(), "value": value}

    def get_token_supply(self, params: list) -> dict:
        mint = self.cluster.get_account(parse_pubkey(params[0]))
        if mint is None or mint.owner not in TOKEN_PROGRAMS or len(mint.data) < MINT_LEN:
            raise RpcFailure(INVALID_PARAMS, "Invalid param: not a Token mint")
        state = decode_mint(bytes(mint.data))
        return {"context": self._context(), "value": ui_token_amount(state.supply, state.decimals)}

    def get_token_largest_accounts(self, params: list) -> dict:
        address = parse_pubkey(params[0])
        decimals = mint_decimals(self.cluster, address)
        if decimals is None:
            raise RpcFailure(INVALID_PARAMS, "Invalid param: not a Token mint")
        mint = self.cluster.get_account(address)
        holders = []
        for account_address, acc in self.cluster.program_accounts(mint.owner):
            data = bytes(acc.data)
            if len(data) >= TOKEN_ACCOUNT_LEN and data[:32] == bytes(address):
                holders.append((decode_token_account(data).amount, str(account_address)))
        holders.sort(key=lambda h: (-h[0], h[1]))
        value = [
            {"address": a, **ui_token_amount(amount, decimals)}
            for amount, a in holders[:_LARGEST_ACCOUNTS]
        ]
        return {"context": self._context(), "value": value}

    def get_epoch_info(self, params: list) -> dict:
        slot = self.cluster.slot
        return {
            "absoluteSlot": slot,
            "blockHeight": slot,
            "epoch": slot // SLOTS_PER_EPOCH,
            "slotIndex": slot % SLOTS_PER_EPOCH,
            "slotsInEpoch": SLOTS_PER_EPOCH,
            "transactionCount": self.cluster.transaction_count,
        }

    def get_signatures_for_address(self, params: list) -> list:
        address = parse_pubkey(params[0])
        config = _config(params, 1)
        limit = int(config.get("limit") or _MAX_SIGNATURES)
        if not 1 <= limit <= _MAX_SIGNATURES:
            raise RpcFailure(INVALID_PARAMS, f"Invalid limit; max {_MAX_SIGNATURES}")
        before, until = config.get("before"), config.get("until")
        records = self.cluster.signatures_for(address)
        if before is not None:
            cut = next((i for i, r in enumerate(records) if str(r.signature) == before), None)
            records = [] if cut is None else records[cut + 1 :]
        if until is not None:
            cut = next((i for i, r in enumerate(records) if str(r.signature) == until), None)
            records = records if cut is None else records[:cut]
        slot = self.cluster.slot
        return [
            {
                "blockTime": r.block_time,
                "confirmationStatus": _confirmation_level(slot, r.slot),
                "err": err_json(r.err),
                "memo": _memo(r),
                "signature": str(r.signature),
                "slot": r.slot,
            }
            for r in records[:limit]
        ]

    def _check_block_slot(self, slot: int) -> None:
        if slot > self.cluster.slot:
            raise RpcFailure(_BLOCK_NOT_AVAILABLE, f"Block not available for slot {slot}")
        if slot < self.cluster.first_slot:
            raise RpcFailure(
                _SLOT_SKIPPED,
                f"Slot {slot} was skipped, or missing due to ledger jump to recent snapshot",
            )

    def get_block_time(self, params: list) -> int:
        slot = int(params[0])
        self._check_block_slot(slot)
        block_time = self.cluster.block_time(slot)
        if block_time is None:
            raise RpcFailure(
                _SLOT_SKIPPED,
                f"Slot {slot} was skipped, or missing due to ledger jump to recent snapshot",
            )
        return block_time

    def get_block(self, params: list) -> dict:
        slot = int(params[0])
        config = _config(params, 1)
        _check_commitment(config, minimum="confirmed")
        encoding = _transaction_encoding(config)
        details = config.get("transactionDetails", "full")
        if details not in _TRANSACTION_DETAILS:
            raise RpcFailure(INVALID_PARAMS, str(unknown_variant(details, _TRANSACTION_DETAILS)))
        self._check_block_slot(slot)
        block_time = self.cluster.block_time(slot)
        if block_time is None:
            raise RpcFailure(
                _SLOT_SKIPPED,
                f"Slot {slot} was skipped, or missing due to ledger jump to recent snapshot",
            )
        records = self.cluster.block(slot)
        block: dict[str, Any] = {
            "blockHeight": slot,
            "blockTime": block_time,
            "blockhash": str(self.cluster.blockhash_of(slot)),
            "parentSlot": slot - 1,
            "previousBlockhash": str(self.cluster.blockhash_of(slot - 1)),
        }
        max_version = config.get("maxSupportedTransactionVersion")
        if details == "signatures":
            block["signatures"] = [str(r.signature) for r in records]
        elif details in ("full", "accounts"):
            block["transactions"] = [
                _transaction_with_meta(
                    r, encoding, max_version, accounts_only=details == "accounts"
                )
                for r in records
            ]
        if config.get("rewards", True):
            block["rewards"] = []
        return block

    def get_block_height(self, params: list) -> int:
        return max(0, self.cluster.block_height - _commitment_depth(_config(params, 0)))

    def get_slot(self, params: list) -> int:
        return max(0, self.cluster.slot - _commitment_depth(_config(params, 0)))

    def get_token_account_balance(self, params: list) -> str:
        amount = self.cluster.token_amount(parse_pubkey(params[0]))
        if amount is None:
            raise RpcFailure(INVALID_PARAMS, "Invalid param: not a Token account")
        return R.GetTokenAccountBalanceResp(amount, self._ctx()).to_json()

    def get_signature_statuses(self, params: list) -> str:
        statuses = []
        for text in params[0]:
            record = self.cluster.status(Signature.from_string(text))
            if record is None:
                statuses.append(None)
                continue
            confirmations = self.cluster.confirmations(record)
            level = TransactionConfirmationStatus.Confirmed
            if confirmations is None:
                level = TransactionConfirmationStatus.Finalized
            elif not self.cluster.is_confirmed(record):
                level = TransactionConfirmationStatus.Processed
            statuses.append(
                TransactionStatus(record.slot, confirmations, record.err, record.err, level)
            )
        return R.GetSignatureStatusesResp(statuses, self._ctx()).to_json()

    def get_transaction(self, params: list) -> Any:
        config = params[1] if len(params) > 1 and isinstance(params[1], dict) else {}
        if len(params) > 1 and isinstance(params[1], str):  # the legacy form: encoding only
            config = {"encoding": params[1]}
        _check_commitment(config, minimum="confirmed")
        encoding = _transaction_encoding(config)
        record = self.cluster.status(Signature.from_string(params[0]))
        # Only a confirmed transaction is served (the lowest commitment this method takes).
        if record is None or record.transaction is None or not self.cluster.is_confirmed(record):
            return None
        answer = _transaction_with_meta(
            record, encoding, config.get("maxSupportedTransactionVersion")
        )
        return {"blockTime": record.block_time, "slot": record.slot, **answer}

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
            code = _SIGNATURE_FAILURE if "signature" in str(exc) else INVALID_PARAMS
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
            raise RpcFailure(INVALID_PARAMS, str(exc)) from None
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
        accounts = [parse_pubkey(k) for k in (params[0] if params else [])]
        fees = [
            R.RpcPrioritizationFee(s, f)
            for s, f in self.cluster.recent_prioritization_fees(accounts)
        ]
        return R.GetRecentPrioritizationFeesResp(fees).to_json()

    def get_fee_for_message(self, params: list) -> str:
        try:
            message = from_bytes_versioned(base64.b64decode(params[0]))
        except (ValueError, TypeError) as exc:
            raise RpcFailure(INVALID_PARAMS, f"failed to deserialize message: {exc}") from exc
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
            self.cluster.airdrop(parse_pubkey(params[0]), int(params[1]))
        ).to_json()

    # -- Jito block engine ---------------------------------------------------------------

    def send_bundle(self, params: list) -> str:
        encoded = params[0] if params else []
        encoding = _config(params, 1).get("encoding", "base58")
        txs = [_decode_tx(t, encoding) for t in encoded]
        try:
            return self.cluster.send_bundle(txs)
        except BundleInvalid as exc:
            raise RpcFailure(INVALID_PARAMS, str(exc)) from None

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
            return json.dumps(error_envelope(None, -32600, "Invalid request"))
        request_id = request.get("id")
        params = request.get("params") or []
        self.calls[str(request["method"])] += 1
        table = self._bundle_methods if bundles else self._methods
        method = table.get(request["method"])
        try:
            if method is None:
                raise RpcFailure(METHOD_NOT_FOUND, "Method not found")
            result = method(params)
        except RpcFailure as failure:
            return json.dumps(
                error_envelope(request_id, failure.code, failure.message, failure.data)
            )
        except (IndexError, KeyError, TypeError, ValueError) as exc:
            return json.dumps(error_envelope(request_id, INVALID_PARAMS, f"Invalid params: {exc}"))
        if isinstance(result, str) and not bundles and result.startswith("{"):
            return _with_id(result, request_id)
        return json.dumps({"jsonrpc": "2.0", "result": result, "id": request_id})


def mint_decimals(cluster: Cluster, mint: Pubkey) -> int | None:
    """The decimals of `mint`, None when it is no token mint (a token account's parsed
    amounts need them)."""
    acc = cluster.get_account(mint)
    if acc is None or acc.owner not in TOKEN_PROGRAMS or len(acc.data) < MINT_LEN:
        return None
    return decode_mint(bytes(acc.data)).decimals


def _commitment_depth(config: dict) -> int:
    """Slots behind the tip that `commitment` reads (finalized: 32; the others: the tip).

    Without a commitment the tip is read too (a node would read finalized): the platform and
    the localnet's own tools have always relied on that."""
    commitment = config.get("commitment")
    if commitment is None:
        return 0
    if commitment not in _COMMITMENTS:
        raise RpcFailure(INVALID_PARAMS, str(unknown_variant(commitment, _COMMITMENTS)))
    return FINALIZED_AFTER_SLOTS if commitment == "finalized" else 0


def _check_commitment(config: dict, *, minimum: str) -> None:
    _commitment_depth(config)
    if config.get("commitment") == "processed" and minimum == "confirmed":
        raise RpcFailure(INVALID_PARAMS, "Method does not support commitment below `confirmed`")


def _transaction_encoding(config: dict) -> str:
    encoding = config.get("encoding", "json")
    if encoding not in TRANSACTION_ENCODINGS:
        raise RpcFailure(INVALID_PARAMS, str(unknown_variant(encoding, TRANSACTION_ENCODINGS)))
    return encoding


def _confirmation_level(current_slot: int, slot: int) -> str:
    return "finalized" if current_slot - slot >= FINALIZED_AFTER_SLOTS else "confirmed"


def err_json(err: Any) -> Any:
    if err is None:
        return None
    # solders writes a TransactionError in the node's JSON form only as part of a meta.
    meta = UiTransactionStatusMeta(err=err, fee=0, pre_balances=[], post_balances=[])
    return json.loads(meta.to_json())["err"]


def _memo(record: TxRecord) -> str | None:
    # As a node lists them: "[<length>] <text>" per memo instruction, joined by "; ".
    tx = record.transaction
    keys = tx.message.account_keys
    memos = []
    for ix in tx.message.instructions:
        if keys[ix.program_id_index] in MEMO_PROGRAM_IDS:
            text = bytes(ix.data).decode("utf-8", errors="replace")
            memos.append(f"[{len(bytes(ix.data))}] {text}")
    return "; ".join(memos) or None


def _transaction_with_meta(
    record: TxRecord, encoding: str, max_version: Any, *, accounts_only: bool = False
) -> dict:
    """`{transaction, meta, version}` of a landed transaction as getTransaction/getBlock
    answer it in `encoding` (a v0 transaction needs maxSupportedTransactionVersion: 0)."""
    tx = record.transaction
    version = tx.version()
    if version != Legacy.Legacy and max_version is None:
        raise RpcFailure(
            _UNSUPPORTED_TRANSACTION_VERSION,
            "Transaction version (0) is not supported by the requesting client. Please try "
            "the request again with the following configuration parameter: "
            '"maxSupportedTransactionVersion": 0',
        )
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
    meta_json = transaction_meta(json.loads(meta.to_json()), encoding)
    if accounts_only:
        parsed = encode_transaction(tx, "jsonParsed")
        transaction: Any = {"accountKeys": parsed["message"]["accountKeys"],
                            "signatures": parsed["signatures"]}  # fmt: skip
        for key in ("innerInstructions", "logMessages", "computeUnitsConsumed", "rewards"):
            meta_json.pop(key, None)
    else:
        transaction = encode_transaction(tx, encoding)
    answer = {"meta": meta_json, "transaction": transaction}
    if max_version is not None:
        answer["version"] = "legacy" if version == Legacy.Legacy else int(version)
    return answer


def error_envelope(request_id: Any, code: int, message: str, data: Any = None) -> dict:
    error: dict[str, Any] = {"code": code, "message": message}
    if data is not None:
        error["data"] = data
    return {"jsonrpc": "2.0", "error": error, "id": request_id}


def filter_matches(rule: dict, data: bytes) -> bool:
    if "dataSize" in rule:
        return len(data) == int(rule["dataSize"])
    memcmp = rule.get("memcmp")
    if memcmp is None:
        raise RpcFailure(INVALID_PARAMS, f"unsupported filter {rule}")
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
            return JSONResponse(error_envelope(None, -32700, "Parse error"))
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
        rpc.bundle_requests_by_auth[request.headers.get("x-jito-auth", "")] += 1
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
    app.state.calls = rpc.calls
    app.state.bundle_requests_by_auth = rpc.bundle_requests_by_auth
    return app
