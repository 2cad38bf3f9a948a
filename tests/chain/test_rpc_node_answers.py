"""The localnet's JSON-RPC answers in the shapes and encodings a node uses (jsonParsed, base58,
base64+zstd, explorer reads, the node's error codes)."""

from __future__ import annotations

import base64
import struct
import subprocess

import httpx
import pytest
from solders.account import Account
from solders.compute_budget import set_compute_unit_limit, set_compute_unit_price
from solders.instruction import Instruction
from solders.keypair import Keypair
from solders.pubkey import Pubkey

from apps.chain.b58 import b58decode, b58encode
from apps.chain.constants import (
    ASSOCIATED_TOKEN_PROGRAM_ID,
    COMPUTE_BUDGET_PROGRAM_ID,
    LAMPORTS_PER_SOL,
    SYSTEM_PROGRAM_ID,
    TOKEN_2022_PROGRAM_ID,
    TOKEN_PROGRAM_ID,
)
from apps.chain.spl import ata_address, create_ata_idempotent, sol_transfer, transfer_checked
from apps.localnet.cluster import FINALIZED_AFTER_SLOTS
from apps.localnet.parsed import MEMO_PROGRAM_IDS
from apps.localnet.seed import create_mint, create_token_account
from tests.chain.conftest import execute

MEMO = sorted(MEMO_PROGRAM_IDS, key=str)[1]  # MemoSq4g…, the current memo program


@pytest.fixture
async def call(app):
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://localnet") as client:

        async def rpc(method: str, *params):
            body = {"jsonrpc": "2.0", "id": 7, "method": method, "params": list(params)}
            answer = (await client.post("/", json=body)).json()
            assert answer["id"] == 7
            return answer

        yield rpc


@pytest.fixture
def token(cluster, payer):
    mint = create_mint(
        cluster, address=Keypair().pubkey(), decimals=6, authority=None, supply=5_000_000_000
    )
    source = ata_address(owner=payer.pubkey(), mint=mint)
    create_token_account(
        cluster, address=source, mint=mint, owner=payer.pubkey(), amount=3_000_000_000
    )
    return mint, source


def _ui(amount: int, decimals: int, text: str) -> dict:
    return {
        "amount": str(amount),
        "decimals": decimals,
        "uiAmount": float(text),
        "uiAmountString": text,
    }


async def test_get_transaction_json_parsed_parses_each_program_as_a_node(call, rpc, payer, token):
    mint, source = token
    friend = Keypair().pubkey()
    destination = ata_address(owner=friend, mint=mint)
    memo = Instruction(MEMO, b"hello localnet", [])
    result = await execute(
        rpc,
        payer,
        [
            sol_transfer(source=payer.pubkey(), destination=friend, lamports=LAMPORTS_PER_SOL),
            create_ata_idempotent(payer=payer.pubkey(), owner=friend, mint=mint),
            transfer_checked(
                source=source,
                mint=mint,
                destination=destination,
                authority=payer.pubkey(),
                amount=1_250_000,
                decimals=6,
            ),
            memo,
        ],
        price=1_000,
        compute_unit_limit=200_000,
    )

    answer = await call(
        "getTransaction",
        str(result.signature),
        {"encoding": "jsonParsed", "maxSupportedTransactionVersion": 0, "commitment": "confirmed"},
    )

    value = answer["result"]
    assert value["version"] == 0
    tx = value["transaction"]
    assert tx["signatures"] == [str(result.signature)]
    keys = {k["pubkey"]: k for k in tx["message"]["accountKeys"]}
    assert keys[str(payer.pubkey())] == {
        "pubkey": str(payer.pubkey()),
        "signer": True,
        "source": "transaction",
        "writable": True,
    }
    assert keys[str(SYSTEM_PROGRAM_ID)]["writable"] is False
    assert tx["message"]["addressTableLookups"] == []
    limit, price, transfer, create, checked, memo_ix = tx["message"]["instructions"]
    # A node does not parse Compute Budget instructions: partially decoded.
    assert limit["data"] == b58encode(bytes(set_compute_unit_limit(200_000).data))
    assert price == {
        "accounts": [],
        "data": b58encode(bytes(set_compute_unit_price(1_000).data)),
        "programId": str(COMPUTE_BUDGET_PROGRAM_ID),
        "stackHeight": None,
    }
    assert transfer == {
        "parsed": {
            "info": {
                "destination": str(friend),
                "lamports": LAMPORTS_PER_SOL,
                "source": str(payer.pubkey()),
            },
            "type": "transfer",
        },
        "program": "system",
        "programId": str(SYSTEM_PROGRAM_ID),
        "stackHeight": None,
    }
    assert create["program"] == "spl-associated-token-account"
    assert create["parsed"] == {
        "info": {
            "account": str(destination),
            "mint": str(mint),
            "source": str(payer.pubkey()),
            "systemProgram": str(SYSTEM_PROGRAM_ID),
            "tokenProgram": str(TOKEN_PROGRAM_ID),
            "wallet": str(friend),
        },
        "type": "createIdempotent",
    }
    assert checked["program"] == "spl-token"
    assert checked["parsed"] == {
        "info": {
            "authority": str(payer.pubkey()),
            "destination": str(destination),
            "mint": str(mint),
            "source": str(source),
            "tokenAmount": _ui(1_250_000, 6, "1.25"),
        },
        "type": "transferChecked",
    }
    assert memo_ix == {
        "parsed": "hello localnet",
        "program": "spl-memo",
        "programId": str(MEMO),
        "stackHeight": None,
    }
    meta = value["meta"]
    assert meta["err"] is None and meta["status"] == {"Ok": None}
    assert meta["fee"] == 5_000 + 200  # one signature + 1,000 µlamports x 200,000 CU
    assert meta["preBalances"][0] - meta["postBalances"][0] == (
        meta["fee"] + LAMPORTS_PER_SOL + 2_039_280
    )
    assert "loadedAddresses" not in meta
    post = {b["accountIndex"]: b for b in meta["postTokenBalances"]}
    dest_index = [k["pubkey"] for k in tx["message"]["accountKeys"]].index(str(destination))
    assert post[dest_index]["uiTokenAmount"] == _ui(1_250_000, 6, "1.25")
    assert post[dest_index]["owner"] == str(friend)


async def test_get_transaction_default_json_and_the_nodes_refusals(call, rpc, payer):
    friend = Keypair().pubkey()
    result = await execute(
        rpc, payer, [sol_transfer(source=payer.pubkey(), destination=friend, lamports=10**7)]
    )
    signature = str(result.signature)

    plain = await call("getTransaction", signature, {"maxSupportedTransactionVersion": 0})
    message = plain["result"]["transaction"]["message"]
    assert message["accountKeys"][:2] == [str(payer.pubkey()), str(friend)]
    assert message["header"] == {
        "numReadonlySignedAccounts": 0,
        "numReadonlyUnsignedAccounts": 2,
        "numRequiredSignatures": 1,
    }
    transfer = message["instructions"][-1]
    assert transfer["programIdIndex"] == message["accountKeys"].index(str(SYSTEM_PROGRAM_ID))
    assert b58decode(transfer["data"]) == struct.pack("<IQ", 2, 10**7)
    assert plain["result"]["meta"]["loadedAddresses"] == {"readonly": [], "writable": []}

    base58 = await call(
        "getTransaction", signature, {"encoding": "base58", "maxSupportedTransactionVersion": 0}
    )
    base64_answer = await call(
        "getTransaction", signature, {"encoding": "base64", "maxSupportedTransactionVersion": 0}
    )
    raw = base64.b64decode(base64_answer["result"]["transaction"][0])
    assert base58["result"]["transaction"] == [b58encode(raw), "base58"]

    no_version = await call("getTransaction", signature, {"encoding": "jsonParsed"})
    assert no_version["error"]["code"] == -32015
    assert '"maxSupportedTransactionVersion": 0' in no_version["error"]["message"]
    processed = await call(
        "getTransaction",
        signature,
        {"commitment": "processed", "maxSupportedTransactionVersion": 0},
    )
    assert processed["error"] == {
        "code": -32602,
        "message": "Method does not support commitment below `confirmed`",
    }
    bad = await call("getTransaction", signature, {"encoding": "yaml"})
    assert bad["error"]["code"] == -32602
    assert "unknown variant `yaml`" in bad["error"]["message"]
    unknown = await call(
        "getTransaction", str(Keypair().sign_message(b"x")), {"maxSupportedTransactionVersion": 0}
    )
    assert unknown["result"] is None
    assert (await call("getStakeActivation", str(friend)))["error"] == {
        "code": -32601,
        "message": "Method not found",
    }


async def test_token_accounts_and_mints_in_json_parsed(call, cluster, payer, token):
    mint, source = token
    info = await call("getAccountInfo", str(source), {"encoding": "jsonParsed"})
    assert info["result"]["value"]["data"] == {
        "program": "spl-token",
        "parsed": {
            "info": {
                "isNative": False,
                "mint": str(mint),
                "owner": str(payer.pubkey()),
                "state": "initialized",
                "tokenAmount": _ui(3_000_000_000, 6, "3000"),
            },
            "type": "account",
        },
        "space": 165,
    }
    assert info["result"]["value"]["owner"] == str(TOKEN_PROGRAM_ID)
    mint_info = await call("getAccountInfo", str(mint), {"encoding": "jsonParsed"})
    assert mint_info["result"]["value"]["data"]["parsed"] == {
        "info": {
            "decimals": 6,
            "freezeAuthority": None,
            "isInitialized": True,
            "mintAuthority": None,
            "supply": "5000000000",
        },
        "type": "mint",
    }
    # A system account has nothing to parse: a node falls back to base64.
    wallet = await call("getAccountInfo", str(payer.pubkey()), {"encoding": "jsonParsed"})
    assert wallet["result"]["value"]["data"] == ["", "base64"]
    assert wallet["result"]["value"]["space"] == 0

    by_owner = await call(
        "getTokenAccountsByOwner",
        str(payer.pubkey()),
        {"programId": str(TOKEN_PROGRAM_ID)},
        {"encoding": "jsonParsed"},
    )
    [entry] = by_owner["result"]["value"]
    assert entry["pubkey"] == str(source)
    assert entry["account"]["data"]["parsed"]["info"]["tokenAmount"]["uiAmountString"] == "3000"
    assert (
        await call(
            "getTokenAccountsByOwner", str(payer.pubkey()), {"programId": str(SYSTEM_PROGRAM_ID)}
        )
    )["error"] == {"code": -32602, "message": "Invalid param: unrecognized Token program id"}

    program = await call(
        "getProgramAccounts",
        str(TOKEN_PROGRAM_ID),
        {
            "encoding": "jsonParsed",
            "filters": [
                {"dataSize": 165},
                {"memcmp": {"offset": 32, "bytes": str(payer.pubkey())}},
            ],
        },
    )
    assert [a["pubkey"] for a in program["result"]] == [str(source)]
    assert program["result"][0]["account"]["data"]["parsed"]["type"] == "account"

    multiple = await call(
        "getMultipleAccounts", [str(mint), str(Keypair().pubkey())], {"encoding": "jsonParsed"}
    )
    assert multiple["result"]["value"][0]["data"]["parsed"]["type"] == "mint"
    assert multiple["result"]["value"][1] is None


async def test_token_2022_extensions_are_parsed(call, rpc, cluster, payer):
    # A Token-2022 ATA made by the real programs carries the ImmutableOwner extension.
    mint = create_mint(
        cluster,
        address=Keypair().pubkey(),
        decimals=9,
        authority=None,
        token_program=TOKEN_2022_PROGRAM_ID,
    )
    await execute(
        rpc,
        payer,
        [
            create_ata_idempotent(
                payer=payer.pubkey(),
                owner=payer.pubkey(),
                mint=mint,
                token_program=TOKEN_2022_PROGRAM_ID,
            )
        ],
    )
    ata = ata_address(owner=payer.pubkey(), mint=mint, token_program=TOKEN_2022_PROGRAM_ID)
    account = (await call("getAccountInfo", str(ata), {"encoding": "jsonParsed"}))["result"]
    assert account["value"]["data"]["program"] == "spl-token-2022"
    assert account["value"]["data"]["parsed"]["info"]["extensions"] == [
        {"extension": "immutableOwner"}
    ]

    # A mint with a transfer fee, a metadata pointer and its token metadata (layouts of the
    # Token-2022 interface).
    authority, fee_mint = Keypair().pubkey(), Keypair().pubkey()

    def tlv(kind: int, body: bytes) -> bytes:
        return struct.pack("<HH", kind, len(body)) + body

    def text(value: str) -> bytes:
        return struct.pack("<I", len(value)) + value.encode()

    fee = struct.pack("<QQH", 5, 1_000_000, 150)
    metadata = (
        bytes(authority)
        + bytes(fee_mint)
        + text("Volume")
        + text("VOL")
        + text("https://example.invalid/vol.json")
        + struct.pack("<I", 1)
        + text("site")
        + text("volumebot")
    )
    base_mint = (
        struct.pack("<I", 1)
        + bytes(authority)
        + struct.pack("<QBB", 10**12, 6, 1)
        + struct.pack("<I", 0)
        + bytes(32)
    )
    data = (
        base_mint.ljust(165, b"\0")
        + bytes([1])
        + tlv(1, bytes(authority) + bytes(32) + struct.pack("<Q", 42) + fee + fee)
        + tlv(18, bytes(authority) + bytes(fee_mint))
        + tlv(19, metadata)
    )
    cluster.set_account(fee_mint, Account(10**7, data, TOKEN_2022_PROGRAM_ID))

    parsed = (await call("getAccountInfo", str(fee_mint), {"encoding": "jsonParsed"}))["result"]
    info = parsed["value"]["data"]["parsed"]["info"]
    assert info["mintAuthority"] == str(authority) and info["supply"] == str(10**12)
    fee_json = {"epoch": 5, "maximumFee": 1_000_000, "transferFeeBasisPoints": 150}
    assert info["extensions"] == [
        {
            "extension": "transferFeeConfig",
            "state": {
                "transferFeeConfigAuthority": str(authority),
                "withdrawWithheldAuthority": None,
                "withheldAmount": 42,
                "olderTransferFee": fee_json,
                "newerTransferFee": fee_json,
            },
        },
        {
            "extension": "metadataPointer",
            "state": {"authority": str(authority), "metadataAddress": str(fee_mint)},
        },
        {
            "extension": "tokenMetadata",
            "state": {
                "updateAuthority": str(authority),
                "mint": str(fee_mint),
                "name": "Volume",
                "symbol": "VOL",
                "uri": "https://example.invalid/vol.json",
                "additionalMetadata": [["site", "volumebot"]],
            },
        },
    ]
    assert parsed["value"]["data"]["space"] == len(data)


async def test_binary_encodings_slices_and_their_limits(call, cluster, token):
    mint, source = token
    raw = bytes(cluster.get_account(source).data)

    legacy = await call("getAccountInfo", str(mint))  # a node's default: legacy base58
    assert b58decode(legacy["result"]["value"]["data"]) == bytes(cluster.get_account(mint).data)
    sliced = await call(
        "getAccountInfo",
        str(source),
        {"encoding": "base58", "dataSlice": {"offset": 64, "length": 8}},
    )
    assert sliced["result"]["value"]["data"] == [b58encode(raw[64:72]), "base58"]
    assert sliced["result"]["value"]["space"] == 165
    too_long = await call("getAccountInfo", str(source), {"encoding": "base58"})
    assert too_long["error"] == {
        "code": -32602,
        "message": "Encoded binary (base 58) data should be less than 128 bytes, please use "
        "Base64 encoding.",
    }
    parsed_slice = await call(
        "getAccountInfo",
        str(source),
        {"encoding": "jsonParsed", "dataSlice": {"offset": 0, "length": 8}},
    )
    assert parsed_slice["error"]["code"] == -32602

    zstd = await call("getAccountInfo", str(source), {"encoding": "base64+zstd"})
    frame, name = zstd["result"]["value"]["data"]
    assert name == "base64+zstd"
    # The zstd command-line tool (Debian's) decodes what the localnet sent.
    decoded = subprocess.run(
        ["zstd", "-d", "-c"], input=base64.b64decode(frame), capture_output=True, check=True
    ).stdout
    assert decoded == raw
    big = bytes(range(256)) * 700  # past one 128 KiB block
    cluster.set_account(mint, Account(10**9, big, SYSTEM_PROGRAM_ID))
    frame = (await call("getAccountInfo", str(mint), {"encoding": "base64+zstd"}))["result"]
    decoded = subprocess.run(
        ["zstd", "-d", "-c"],
        input=base64.b64decode(frame["value"]["data"][0]),
        capture_output=True,
        check=True,
    ).stdout
    assert decoded == big


async def test_explorer_reads_of_recent_slots(call, rpc, cluster, payer, token):
    mint, source = token
    friend = Keypair().pubkey()
    first = await execute(
        rpc, payer, [sol_transfer(source=payer.pubkey(), destination=friend, lamports=10**7)]
    )
    cluster.advance_slots(2)
    second = await execute(
        rpc,
        payer,
        [
            sol_transfer(source=payer.pubkey(), destination=friend, lamports=10**7),
            Instruction(MEMO, b"second", []),
        ],
    )
    slot_first, slot_second = (
        cluster.status(first.signature).slot,
        cluster.status(second.signature).slot,
    )
    assert slot_second == slot_first + 2

    history = (await call("getSignaturesForAddress", str(friend)))["result"]
    assert [h["signature"] for h in history] == [str(second.signature), str(first.signature)]
    assert history[0]["memo"] == "[6] second" and history[1]["memo"] is None
    assert history[0]["slot"] == slot_second and history[0]["confirmationStatus"] == "confirmed"
    assert history[0]["err"] is None
    older = await call(
        "getSignaturesForAddress", str(friend), {"before": str(second.signature), "limit": 5}
    )
    assert [h["signature"] for h in older["result"]] == [str(first.signature)]
    assert (await call("getSignaturesForAddress", str(friend), {"limit": 1001}))["error"] == {
        "code": -32602,
        "message": "Invalid limit; max 1000",
    }

    block = await call(
        "getBlock", slot_second, {"encoding": "jsonParsed", "maxSupportedTransactionVersion": 0}
    )
    block = block["result"]
    assert block["blockHeight"] == slot_second and block["parentSlot"] == slot_second - 1
    assert [t["transaction"]["signatures"][0] for t in block["transactions"]] == [
        str(second.signature)
    ]
    assert block["transactions"][0]["transaction"]["message"]["instructions"][-1]["parsed"] == (
        "second"
    )
    assert block["rewards"] == []
    empty = await call("getBlock", slot_second - 1, {"transactionDetails": "signatures"})
    assert empty["result"]["signatures"] == []
    assert (
        empty["result"]["previousBlockhash"]
        == (
            (
                await call(
                    "getBlock", slot_second - 2, {"transactionDetails": "none", "rewards": False}
                )
            )["result"]["blockhash"]
        )
    )
    assert (await call("getBlockTime", slot_second))["result"] == cluster.status(
        second.signature
    ).block_time
    future = await call("getBlock", cluster.slot + 10)
    assert future["error"] == {
        "code": -32004,
        "message": f"Block not available for slot {cluster.slot + 10}",
    }
    before_genesis = await call("getBlockTime", 0)
    assert before_genesis["error"]["code"] == -32007

    supply = (await call("getTokenSupply", str(mint)))["result"]["value"]
    assert supply == _ui(5_000_000_000, 6, "5000")
    holder = Keypair().pubkey()
    other = create_token_account(
        cluster, address=Keypair().pubkey(), mint=mint, owner=holder, amount=2_000_000_000
    )
    largest = (await call("getTokenLargestAccounts", str(mint)))["result"]["value"]
    assert largest == [
        {"address": str(source), **_ui(3_000_000_000, 6, "3000")},
        {"address": str(other), **_ui(2_000_000_000, 6, "2000")},
    ]
    assert (await call("getTokenSupply", str(friend)))["error"] == {
        "code": -32602,
        "message": "Invalid param: not a Token mint",
    }

    epoch = (await call("getEpochInfo"))["result"]
    assert epoch == {
        "absoluteSlot": cluster.slot,
        "blockHeight": cluster.slot,
        "epoch": 0,
        "slotIndex": cluster.slot,
        "slotsInEpoch": 432_000,
        "transactionCount": 2,
    }


async def test_latest_blockhash_per_commitment(call, cluster):
    cluster.advance_slots(100)
    tip = cluster.slot
    confirmed = (await call("getLatestBlockhash", {"commitment": "confirmed"}))["result"]
    finalized = (await call("getLatestBlockhash", {"commitment": "finalized"}))["result"]
    assert confirmed["value"]["lastValidBlockHeight"] == tip + 150
    assert finalized["value"]["lastValidBlockHeight"] == tip - FINALIZED_AFTER_SLOTS + 150
    assert confirmed["value"]["blockhash"] != finalized["value"]["blockhash"]
    valid = await call("isBlockhashValid", finalized["value"]["blockhash"])
    assert valid["result"]["value"] is True
    assert (await call("getSlot", {"commitment": "finalized"}))["result"] == tip - 32
    wrong = await call("getLatestBlockhash", {"commitment": "max"})
    assert wrong["error"]["code"] == -32602 and "unknown variant `max`" in wrong["error"]["message"]


def test_the_associated_token_program_parses_create(cluster):
    from apps.localnet.parsed import parse_instruction

    keys = [Keypair().pubkey() for _ in range(4)] + [SYSTEM_PROGRAM_ID, TOKEN_PROGRAM_ID]
    parsed = parse_instruction(ASSOCIATED_TOKEN_PROGRAM_ID, keys, b"")
    assert parsed["parsed"]["type"] == "create"
    # Data that fits no layout is answered partially decoded, never half parsed.
    broken = parse_instruction(TOKEN_PROGRAM_ID, keys[:1], bytes([3, 1]))
    assert broken == {
        "accounts": [str(keys[0])],
        "data": b58encode(bytes([3, 1])),
        "programId": str(TOKEN_PROGRAM_ID),
        "stackHeight": None,
    }
    unknown_program = Pubkey.from_string("675kPX9MHTjS2zt1qfr1NYHuzeLXfQM9H24wFSUt1Mp8")
    assert "parsed" not in parse_instruction(unknown_program, keys, b"\x09")
