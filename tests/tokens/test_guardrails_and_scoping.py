"""Token registration rules and owner scoping that are decided before the chain is read."""

import pytest

from apps.core.errors import NotFound, ValidationFailed
from apps.tokens.models import MintRule, PoolSelection, Token, TokenLink
from apps.tokens.selectors import mint_rule_refusal, token_get
from apps.tokens.services import mint_rule_add, token_register
from tests.factories import PoolFactory, TokenFactory

pytestmark = pytest.mark.django_db

MINT = "7xKXtg2CW87d97TXJSDpbD5jBkheTqA83TZRuJosgAsU"
OTHER = "4k3Dyjzvzp8eMZWUXbBCjEvwSkkk59S5iCNLY3QrkX6R"


def make_token(owner, mint=MINT, network="localnet") -> Token:
    return TokenFactory(network=network, mint=mint, symbol="TST", name="", linked_to=owner)


def test_it_refuses_a_denied_mint_and_creates_nothing(alice, carol):
    mint_rule_add(actor=carol, mint=MINT, kind="deny", reason="scam reports")

    with pytest.raises(ValidationFailed) as refused:
        token_register(owner=alice, network="localnet", mint=MINT)

    assert refused.value.fields == {
        "mint": ["This mint is on the platform's deny list and cannot be traded here."]
    }
    assert not Token.objects.exists()
    assert not TokenLink.objects.exists()


def test_it_lets_deny_win_over_allow(carol):
    mint_rule_add(actor=carol, mint=MINT, kind="allow")
    mint_rule_add(actor=carol, mint=MINT, kind="deny")

    assert mint_rule_refusal(mint=MINT) == (
        "This mint is on the platform's deny list and cannot be traded here."
    )


def test_it_allows_everything_while_the_allow_list_is_empty():
    assert mint_rule_refusal(mint=MINT) is None


def test_it_refuses_mints_missing_from_a_non_empty_allow_list(alice, carol):
    mint_rule_add(actor=carol, mint=OTHER, kind="allow")

    with pytest.raises(ValidationFailed, match="not on the platform's allow list"):
        token_register(owner=alice, network="localnet", mint=MINT)
    assert not Token.objects.exists()


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("not-base58-0OIl", "Enter a valid base58 address (32 bytes)."),
        ("abc", "Enter a valid base58 address (32 bytes)."),
        ("", "Enter a valid base58 address (32 bytes)."),
    ],
)
def test_it_refuses_malformed_mints_with_a_clear_message(alice, value, message):
    with pytest.raises(ValidationFailed) as refused:
        token_register(owner=alice, network="localnet", mint=value)

    assert refused.value.fields == {"mint": [message]}
    assert not Token.objects.exists()


def test_it_shows_a_token_only_to_users_who_registered_it(alice, bob):
    token = make_token(alice)

    assert token_get(owner=alice, token_id=token.pk) == token
    with pytest.raises(NotFound):
        token_get(owner=bob, token_id=token.pk)


def test_it_hides_other_users_tokens_and_selections_in_the_api(alice, bob, alice_api, bob_api):
    token = make_token(alice)
    selection = PoolFactory(token=token, address=OTHER, selected_by=alice).selections.get()

    assert [t["id"] for t in alice_api.get("/v1/tokens").json()["results"]] == [token.pk]
    assert bob_api.get("/v1/tokens").json() == {"results": [], "next_cursor": None}
    assert bob_api.get(f"/v1/tokens/{token.pk}").status_code == 404
    selected = alice_api.get("/v1/pools/selected").json()["results"]
    assert [s["id"] for s in selected] == [selection.pk]
    assert bob_api.get("/v1/pools/selected").json() == {"results": [], "next_cursor": None}
    assert bob_api.delete(f"/v1/pools/selected/{selection.pk}").status_code == 404
    assert PoolSelection.objects.filter(pk=selection.pk).exists()
    assert bob_api.post("/v1/pools", {"token_id": token.pk, "address": OTHER}).status_code == 404


def test_it_refuses_anonymous_api_and_page_access(client, api_client, alice):
    token = make_token(alice)

    assert api_client.get("/v1/tokens").status_code == 401
    assert api_client.get(f"/v1/tokens/{token.pk}").status_code == 401
    assert api_client.get(f"/v1/pools?mint={MINT}").status_code == 401
    for path in ("/tokens/", "/tokens/register/", f"/tokens/{token.pk}/"):
        response = client.get(path)
        assert response.status_code == 302
        assert response.url.startswith("/accounts/signin/")


def test_it_answers_another_users_token_page_with_404(client, alice, bob):
    token = make_token(alice)
    client.force_login(bob)

    assert client.get(f"/tokens/{token.pk}/").status_code == 404
    assert client.post(f"/tokens/{token.pk}/pools/select/", {"address": OTHER}).status_code == 404


def test_it_lists_tokens_with_an_empty_state(client, alice):
    client.force_login(alice)

    empty = client.get("/tokens/")
    make_token(alice)
    listed = client.get("/tokens/")

    assert b"No tokens yet" in empty.content
    assert b"TST" in listed.content


@pytest.mark.parametrize("htmx", [False, True])
def test_it_shows_form_errors_with_and_without_htmx(client, alice, htmx):
    client.force_login(alice)
    headers = {"HTTP_HX_REQUEST": "true"} if htmx else {}

    response = client.post(
        "/tokens/register/", {"mint": "nope", "network": "localnet", "preview": "1"}, **headers
    )

    assert response.status_code == 200
    assert b"Enter a valid base58 address (32 bytes)." in response.content
    assert (b"<html" in response.content) is not htmx
    assert not Token.objects.exists()


def test_it_audits_mint_rules_once(carol):
    mint_rule_add(actor=carol, mint=MINT, kind="deny")
    mint_rule_add(actor=carol, mint=MINT, kind="deny")

    assert MintRule.objects.count() == 1
