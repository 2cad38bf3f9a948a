"""Golden expectations for the pump instructions, derived from the official IDL files.

`expected_pump_*` lists every account the IDL (plus the documented remaining accounts) says a
trade must carry; `assert_same_accounts` compares a builder's instruction with it and names
the first account that differs.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from solders.instruction import Instruction
from solders.pubkey import Pubkey
from solders.token.associated import get_associated_token_address

from apps.localnet.emulation import anchor_idl

PUMP = "6EF8rrecthR5Dkzon8Nwu78hRvfCKubJ14M5uBEwF6P"
PUMP_PROGRAM = Pubkey.from_string(PUMP)


@dataclass(frozen=True)
class Expected:
    name: str
    pubkey: Pubkey
    writable: bool
    signer: bool
    rule: str


def _from_idl(spec, *, free, fields) -> list[Expected]:
    return [
        Expected(e.name, e.pubkey, e.writable, e.signer, e.rule)
        for e in anchor_idl.expected_accounts(spec, free=free, fields=fields)
    ]


def _pump_trailing(*, mint: Pubkey, buyback_fee_recipient: Pubkey) -> list[Expected]:
    # docs/BREAKING_FEE_RECIPIENT.md: bonding-curve-v2, then one buyback recipient (mutable).
    v2 = Pubkey.find_program_address([b"bonding-curve-v2", bytes(mint)], PUMP_PROGRAM)[0]
    return [
        Expected("bonding_curve_v2", v2, False, False, "pda (remaining)"),
        Expected("buyback_fee_recipient", buyback_fee_recipient, True, False, "free (remaining)"),
    ]


def _free(*, mint, user, fee_recipient, token_program) -> dict[str, Pubkey]:
    return {
        "fee_recipient": fee_recipient,
        "mint": mint,
        "associated_user": get_associated_token_address(user, mint, token_program),
        "user": user,
        "token_program": token_program,
    }


def expected_pump_buy(
    *, mint, user, creator, fee_recipient, buyback_fee_recipient, token_program
) -> list[Expected]:
    spec = anchor_idl.instruction("pump", "buy")
    free = _free(mint=mint, user=user, fee_recipient=fee_recipient, token_program=token_program)
    return [
        *_from_idl(spec, free=free, fields={"bonding_curve.creator": creator}),
        *_pump_trailing(mint=mint, buyback_fee_recipient=buyback_fee_recipient),
    ]


def expected_pump_sell(
    *, mint, user, creator, fee_recipient, buyback_fee_recipient, token_program, cashback
) -> list[Expected]:
    spec = anchor_idl.instruction("pump", "sell")
    free = _free(mint=mint, user=user, fee_recipient=fee_recipient, token_program=token_program)
    cashback_accounts = []
    if cashback:
        # The IDL's `sell` docs: a cashback coin passes the user_volume_accumulator first.
        accumulator = Pubkey.find_program_address(
            [b"user_volume_accumulator", bytes(user)], PUMP_PROGRAM
        )[0]
        cashback_accounts.append(
            Expected("user_volume_accumulator", accumulator, True, False, "pda (remaining)")
        )
    return [
        *_from_idl(spec, free=free, fields={"bonding_curve.creator": creator}),
        *cashback_accounts,
        *_pump_trailing(mint=mint, buyback_fee_recipient=buyback_fee_recipient),
    ]


def assert_same_accounts(ix: Instruction, expected: list[Expected], *, program: Pubkey) -> None:
    assert ix.program_id == program, f"program {ix.program_id} is not {program}"
    names = [e.name for e in expected]
    assert len(ix.accounts) == len(expected), (
        f"{len(ix.accounts)} accounts sent, the IDL and docs prescribe {len(expected)}: {names}"
    )
    for index, (meta, want) in enumerate(zip(ix.accounts, expected, strict=True)):
        got = (meta.pubkey, meta.is_writable, meta.is_signer)
        assert got == (want.pubkey, want.writable, want.signer), (
            f"account #{index} {want.name} ({want.rule}): sent {meta.pubkey} "
            f"writable={meta.is_writable} signer={meta.is_signer}, expected {want.pubkey} "
            f"writable={want.writable} signer={want.signer}"
        )


def expected_data(program: str, name: str, **args) -> bytes:
    """The instruction data the IDL's argument list gives for `args`."""
    return anchor_idl.encode_args(anchor_idl.instruction(program, name), args)


_SIZES = {"u8": 1, "bool": 1, "u16": 2, "u32": 4, "u64": 8, "i64": 8, "u128": 16, "pubkey": 32}


def _size(kind, types) -> int:
    if isinstance(kind, str):
        return _SIZES[kind]
    if "array" in kind:
        inner, count = kind["array"]
        return _size(inner, types) * count
    fields = types[kind["defined"]["name"]]["type"]["fields"]
    return sum(_size(f["type"] if isinstance(f, dict) else f, types) for f in fields)


def account_layout(program: str, name: str) -> dict[str, tuple[int, int]]:
    """Each field of a fixed-size IDL account type: (offset, size), after the 8-byte
    discriminator."""
    idl = json.loads((anchor_idl.IDL_DIR / f"{program}.json").read_text())
    types = {t["name"]: t for t in idl["types"]}
    layout, offset = {}, 8
    for field in types[name]["type"]["fields"]:
        size = _size(field["type"], types)
        layout[field["name"]] = (offset, size)
        offset += size
    layout["__len__"] = (offset, 0)
    return layout


def account_discriminator(program: str, name: str) -> bytes:
    idl = json.loads((anchor_idl.IDL_DIR / f"{program}.json").read_text())
    return bytes(next(a for a in idl["accounts"] if a["name"] == name)["discriminator"])


AMM_PROGRAM = Pubkey.from_string("pAMMBay6oceH9fJKBRHGP5D4bD4sWpmSwMn52FMfXEA")
WSOL = Pubkey.from_string("So11111111111111111111111111111111111111112")
SPL_TOKEN = Pubkey.from_string("TokenkegQfeZyiNwAJbNbGKPFXCWuBvf9Ss623VQ5DA")


def expected_pumpswap(
    name: str,
    *,
    pool_address: Pubkey,
    pool,
    user: Pubkey,
    protocol_fee_recipient: Pubkey,
    buyback_fee_recipient: Pubkey,
    base_token_program: Pubkey,
) -> list[Expected]:
    """`buy` or `sell` of pump_amm: the IDL's accounts, the cashback remaining accounts
    (PUMP_CASHBACK_README.md), then pool-v2, the buyback recipient and its quote ATA
    (BREAKING_FEE_RECIPIENT.md)."""
    spec = anchor_idl.instruction("pump_amm", name)
    free = {
        "pool": pool_address,
        "user": user,
        "global_config": Pubkey.find_program_address([b"global_config"], AMM_PROGRAM)[0],
        "base_mint": pool.base_mint,
        "quote_mint": pool.quote_mint,
        "user_base_token_account": get_associated_token_address(
            user, pool.base_mint, base_token_program
        ),
        "user_quote_token_account": get_associated_token_address(user, WSOL, SPL_TOKEN),
        "pool_base_token_account": pool.pool_base_token_account,
        "pool_quote_token_account": pool.pool_quote_token_account,
        "protocol_fee_recipient": protocol_fee_recipient,
        "base_token_program": base_token_program,
        "quote_token_program": SPL_TOKEN,
    }
    accounts = _from_idl(spec, free=free, fields={"pool.coin_creator": pool.coin_creator})
    if pool.is_cashback_coin:
        accumulator = Pubkey.find_program_address(
            [b"user_volume_accumulator", bytes(user)], AMM_PROGRAM
        )[0]
        accounts.append(
            Expected(
                "user_volume_accumulator_wsol_ata",
                get_associated_token_address(accumulator, WSOL, SPL_TOKEN),
                True,
                False,
                "ata (remaining)",
            )
        )
        if name == "sell":
            accounts.append(
                Expected("user_volume_accumulator", accumulator, True, False, "pda (remaining)")
            )
    pool_v2 = Pubkey.find_program_address([b"pool-v2", bytes(pool.base_mint)], AMM_PROGRAM)[0]
    return [
        *accounts,
        Expected("pool_v2", pool_v2, False, False, "pda (remaining)"),
        Expected("buyback_fee_recipient", buyback_fee_recipient, False, False, "free (remaining)"),
        Expected(
            "buyback_fee_recipient_quote_ata",
            get_associated_token_address(buyback_fee_recipient, WSOL, SPL_TOKEN),
            True,
            False,
            "ata (remaining)",
        ),
    ]
