from dataclasses import asdict

from django.conf import settings
from django.db.models import QuerySet

from apps.accounts.models import User
from apps.chain.dex.discovery import discover_pools
from apps.chain.token_info import AccountKind, NotAMint, metadata_mints
from apps.core.chain import chain_run, parse_address
from apps.core.errors import NotFound, ValidationFailed
from apps.core.outage import soft_cache
from apps.tokens.models import MintRule, PoolSelection, Token

NOT_A_MINT = {
    AccountKind.WALLET: "This address is a wallet, not a token mint.",
    AccountKind.TOKEN_ACCOUNT: "This address is a token account, not a mint: "
    "use the mint it holds.",
    AccountKind.PROGRAM: "This address is a program, not a token mint.",
    AccountKind.OTHER: "This account is not a token mint "
    "(it is not owned by SPL Token or Token-2022).",
}


def mint_refusal(message: str) -> ValidationFailed:
    """The 400 for an address that cannot be used as a mint, on the `mint` field."""
    return ValidationFailed(message, fields={"mint": [message]})


def not_a_mint(error: NotAMint) -> ValidationFailed:
    """The chain layer's NotAMint as the clear 400 that says what the address is instead."""
    return mint_refusal(NOT_A_MINT[error.kind])


def mint_rule_refusal(*, mint: str) -> str | None:
    """Why the platform refuses this mint, or None. Deny wins; an empty allow list allows all."""
    if MintRule.objects.filter(mint=mint, kind=MintRule.Kind.DENY).exists():
        return "This mint is on the platform's deny list and cannot be traded here."
    allow_list = MintRule.objects.filter(kind=MintRule.Kind.ALLOW)
    if allow_list.exists() and not allow_list.filter(mint=mint).exists():
        return "This mint is not on the platform's allow list."
    return None


def token_list(*, owner: User) -> QuerySet[Token]:
    return Token.objects.filter(links__owner=owner).order_by("symbol", "mint", "id")


def token_get(*, owner: User, token_id: int) -> Token:
    """The token if `owner` registered it; anything else is a 404, never a hint it exists."""
    token = Token.objects.filter(pk=token_id, links__owner=owner).first()
    if token is None:
        raise NotFound("No such token.")
    return token


def pool_candidates(*, network: str, mint: str, refresh: bool = False) -> list[dict]:
    """Every venue's SOL pools for a mint, read from chain (no third-party API) and cached for
    POOL_CACHE_SECONDS; `refresh` bypasses (and renews) the cache."""
    address = parse_address(mint, field="mint")
    key = f"pools:{network}:{address}"
    if not refresh:
        cached = soft_cache.get(key)  # Redis down: read the chain
        if cached is not None:
            return cached
    try:
        summaries = chain_run(network, lambda rpc: discover_pools(rpc=rpc, mint=address))
    except NotAMint as error:
        raise not_a_mint(error) from error
    candidates = [asdict(summary) for summary in summaries]
    soft_cache.set(key, candidates, settings.POOL_CACHE_SECONDS)
    return candidates


# Clusters run for development, where listing every token with metadata is cheap and useful.
LOCAL_NETWORKS = ("localnet",)


def seeded_tokens(*, network: str) -> list[dict]:
    """The tokens a local cluster holds (what it seeded: every mint with metadata), offered on
    the register page; nothing on any other network. Cached for POOL_CACHE_SECONDS."""
    if network not in LOCAL_NETWORKS:
        return []
    key = f"tokens:seeded:{network}"
    cached = soft_cache.get(key)  # Redis down: read the chain
    if cached is not None:
        return cached
    found = chain_run(network, lambda rpc: metadata_mints(rpc=rpc))
    tokens = [{"mint": str(mint), "name": meta.name, "symbol": meta.symbol} for mint, meta in found]
    soft_cache.set(key, tokens, settings.POOL_CACHE_SECONDS)
    return tokens


def pool_selection_list(*, owner: User, token: Token | None = None) -> QuerySet[PoolSelection]:
    selections = PoolSelection.objects.filter(owner=owner).select_related("pool", "pool__token")
    if token is not None:
        selections = selections.filter(pool__token=token)
    return selections.order_by("-created_at", "-id")
