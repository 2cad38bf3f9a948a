from dataclasses import asdict

from django.conf import settings
from django.core.cache import cache
from django.db.models import QuerySet

from apps.accounts.models import User
from apps.chain.dex.discovery import discover_pools
from apps.chain.token_info import metadata_mints
from apps.core.chain import chain_run, parse_address
from apps.core.errors import NotFound
from apps.tokens.models import MintRule, PoolSelection, Token


def mint_rule_refusal(*, mint: str) -> str | None:
    """Why the platform refuses this mint, or None. Deny wins; an empty allow list allows all."""
    if MintRule.objects.filter(mint=mint, kind=MintRule.Kind.DENY).exists():
        return "This mint is on the platform's deny list and cannot be traded here."
    allow_list = MintRule.objects.filter(kind=MintRule.Kind.ALLOW)
    if allow_list.exists() and not allow_list.filter(mint=mint).exists():
        return "This mint is not on the platform's allow list."
    return None


def token_list(*, owner: User) -> QuerySet[Token]:
    return Token.objects.filter(links__owner=owner).order_by("symbol", "mint")


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
        cached = cache.get(key)
        if cached is not None:
            return cached
    summaries = chain_run(network, lambda rpc: discover_pools(rpc=rpc, mint=address))
    candidates = [asdict(summary) for summary in summaries]
    cache.set(key, candidates, settings.POOL_CACHE_SECONDS)
    return candidates


# Clusters run for development, where listing every token with metadata is cheap and useful.
LOCAL_NETWORKS = ("localnet",)


def seeded_tokens(*, network: str) -> list[dict]:
    """The tokens a local cluster holds (what it seeded: every mint with metadata), offered on
    the register page; nothing on any other network. Cached for POOL_CACHE_SECONDS."""
    if network not in LOCAL_NETWORKS:
        return []
    key = f"tokens:seeded:{network}"
    cached = cache.get(key)
    if cached is not None:
        return cached
    found = chain_run(network, lambda rpc: metadata_mints(rpc=rpc))
    tokens = [{"mint": str(mint), "name": meta.name, "symbol": meta.symbol} for mint, meta in found]
    cache.set(key, tokens, settings.POOL_CACHE_SECONDS)
    return tokens


def pool_selection_list(*, owner: User, token: Token | None = None) -> QuerySet[PoolSelection]:
    selections = PoolSelection.objects.filter(owner=owner).select_related("pool", "pool__token")
    if token is not None:
        selections = selections.filter(pool__token=token)
    return selections.order_by("-created_at")
