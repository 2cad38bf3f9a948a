from django.db import transaction
from django.utils import timezone

from apps.accounts.models import User
from apps.chain.constants import WSOL_MINT
from apps.chain.token_info import MintInfo, NotAMint, read_mint
from apps.core.chain import chain_run, parse_address
from apps.core.errors import Conflict, ValidationFailed
from apps.core.services import audit_log
from apps.core.text import plain_text
from apps.tokens.models import MintRule, Pool, PoolSelection, Token, TokenLink
from apps.tokens.selectors import (
    mint_refusal,
    mint_rule_refusal,
    not_a_mint,
    pool_candidates,
    token_get,
)


def mint_read(*, network: str, mint: str) -> MintInfo:
    """Read a mint and its metadata from chain, or say clearly what the address is instead."""
    address = parse_address(mint, field="mint")
    refusal = mint_rule_refusal(mint=str(address))
    if refusal:
        raise mint_refusal(refusal)
    try:
        info = chain_run(network, lambda rpc: read_mint(rpc=rpc, mint=address))
    except NotAMint as error:
        raise not_a_mint(error) from error
    if info is None:
        raise mint_refusal(f"Not found on {network}: no account exists at this address.")
    return info


def token_register(*, owner: User, network: str, mint: str) -> Token:
    """Register a mint for `owner` (once per network for everybody; each user links to it)."""
    info = mint_read(network=network, mint=mint)
    metadata = info.metadata
    with transaction.atomic():
        token, _ = Token.objects.update_or_create(
            network=network,
            mint=str(info.address),
            defaults={
                "program": info.program,
                "decimals": info.decimals,
                "supply_raw": info.supply,
                "mint_authority": str(info.mint_authority or ""),
                "freeze_authority": str(info.freeze_authority or ""),
                # The mint's creator wrote these: shown everywhere, so plain text only.
                "name": plain_text(metadata.name)[:64] if metadata else "",
                "symbol": plain_text(metadata.symbol)[:16] if metadata else "",
                "uri": metadata.uri[:200] if metadata else "",
                "metadata": {"source": metadata.source} if metadata else {},
            },
        )
        _, linked = TokenLink.objects.get_or_create(owner=owner, token=token)
        if linked:
            audit_log(
                actor=owner, action="token.register", entity="token", entity_id=token.pk,
                metadata={"mint": token.mint, "network": network},
            )  # fmt: skip
    return token


def pool_select(*, owner: User, token_id: int, address: str) -> PoolSelection:
    """Select one of the token's discovered pools for campaigns. The pool is re-read from
    chain first, so a stale cache can never let a migrated or vanished pool be selected."""
    token = token_get(owner=owner, token_id=token_id)
    parse_address(address, field="address")
    candidates = pool_candidates(network=token.network, mint=token.mint, refresh=True)
    candidate = next((c for c in candidates if c["address"] == address), None)
    if candidate is None:
        message = "This address is not a pool of this token on any supported venue."
        raise ValidationFailed(message, fields={"address": [message]})
    if candidate["migrated"]:
        raise Conflict(
            "This pump.fun bonding curve is complete: the token migrated to an AMM, so this venue "
            "no longer trades it. Select its AMM pool instead.",
            code="pool_migrated",
        )
    if candidate["quote_mint"] != str(WSOL_MINT):
        # pump.fun coins can be quoted in another mint (USDC); their trades are a different
        # instruction family with quote token accounts, which the engine does not build.
        raise Conflict(
            f"This pool is quoted in {candidate['quote_mint']}, not SOL: volumebot trades "
            "SOL-quoted pools only.",
            code="pool_not_sol_quoted",
        )
    with transaction.atomic():
        pool, _ = Pool.objects.update_or_create(
            network=token.network,
            address=address,
            defaults={
                "token": token,
                "dex": candidate["dex"],
                "quote_mint": candidate["quote_mint"],
                "metadata": candidate,
                "fetched_at": timezone.now(),
            },
        )
        selection, created = PoolSelection.objects.get_or_create(owner=owner, pool=pool)
        if created:
            audit_log(
                actor=owner, action="pool.select", entity="pool", entity_id=pool.pk,
                metadata={"address": address, "dex": pool.dex},
            )  # fmt: skip
    return selection


def pool_unselect(*, owner: User, selection_id: int) -> None:
    deleted, _ = PoolSelection.objects.filter(owner=owner, pk=selection_id).delete()
    if deleted:
        audit_log(
            actor=owner, action="pool.unselect", entity="pool_selection", entity_id=selection_id
        )


def mint_rule_add(*, actor: User, mint: str, kind: str, reason: str = "") -> MintRule:
    address = parse_address(mint, field="mint")
    rule, created = MintRule.objects.get_or_create(
        mint=str(address), kind=kind, defaults={"reason": reason, "created_by": actor}
    )
    if created:
        audit_log(
            actor=actor, action=f"mint_rule.{kind}", entity="mint", entity_id=rule.mint,
            metadata={"reason": reason},
        )  # fmt: skip
    return rule
