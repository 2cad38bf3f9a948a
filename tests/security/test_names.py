"""Names are plain one-line text: control characters (terminal escapes, CR/LF, NUL) and the
invisible text-direction controls are refused where a person types a name (campaigns, wallet
labels, display names) and stripped from a token's on-chain name and symbol."""

import pytest
from django.test import TestCase
from django.urls import reverse
from solders.keypair import Keypair

from apps.accounts.models import User
from apps.campaigns.models import Campaign
from apps.core.models import AuditEvent
from apps.localnet.seed import seed_token
from apps.tokens.services import token_register
from apps.wallets.models import Wallet
from tests.support.campaigns import PARAMS, make_campaign

pytestmark = pytest.mark.django_db

BAD = [
    ("Launch\x1b[2J", "U+001B"),  # a terminal escape (clear screen)
    ("Launch\u202egpj.exe", "U+202E"),  # right-to-left override
    ("Launch\u2066x", "U+2066"),  # left-to-right isolate
    ("Launch\r\nINFO forged log line", "U+000D"),
    ("Launch\x07bell", "U+0007"),
    ("Launch\u2028x", "U+2028"),  # line separator
]


def refusal(code: str) -> str:
    return (
        f"Remove the control or text-direction character ({code}): "
        "names are plain text on one line."
    )


@pytest.mark.parametrize(("name", "code"), BAD)
def test_it_refuses_a_campaign_name_with_control_characters(alice_api, alice_setup, name, code):
    response = alice_api.post(
        "/v1/campaigns", {"name": name, **alice_setup.refs(), "params": PARAMS}
    )

    assert response.status_code == 400
    assert response.json()["error"]["fields"] == {"name": [refusal(code)]}
    assert not Campaign.objects.exists()
    assert not AuditEvent.objects.filter(action="campaign.create").exists()


def test_it_refuses_renaming_a_campaign_with_a_direction_override(alice_api, alice_setup):
    campaign = make_campaign(alice_setup, name="Plain")

    response = alice_api.patch(f"/v1/campaigns/{campaign.pk}", {"name": "x\u202eyz"})

    assert response.status_code == 400
    assert response.json()["error"]["fields"] == {"name": [refusal("U+202E")]}
    assert Campaign.objects.get().name == "Plain"
    assert not AuditEvent.objects.filter(action="campaign.update").exists()


def test_it_accepts_ordinary_unicode_names(alice_api, alice_setup):
    name = "Lancement ✨ ローンチ — עברית"  # letters of any script, emoji, an RTL script itself

    response = alice_api.post(
        "/v1/campaigns", {"name": name, **alice_setup.refs(), "params": PARAMS}
    )

    assert response.status_code == 201
    assert Campaign.objects.get().name == name


@pytest.mark.parametrize("mode", ["generate", "watch"])
def test_it_refuses_a_wallet_label_with_control_characters(alice_api, mode):
    body = {"mode": mode, "label": "Main\x1b]0;pwned\x07"}
    if mode == "watch":
        body["address"] = str(Keypair().pubkey())

    response = alice_api.post("/v1/wallets", body)

    assert response.status_code == 400
    assert response.json()["error"]["fields"] == {"label": [refusal("U+001B")]}
    assert not Wallet.objects.exists()


def test_it_refuses_relabelling_a_wallet_with_a_direction_override(alice_api):
    created = alice_api.post("/v1/wallets", {"mode": "generate", "label": "Main"}).json()

    response = alice_api.patch(f"/v1/wallets/{created['id']}", {"label": "Ma\u202ein"})

    assert response.status_code == 400
    assert response.json()["error"]["fields"] == {"label": [refusal("U+202E")]}
    assert Wallet.objects.get().label == "Main"


def test_it_refuses_a_display_name_with_control_characters_at_sign_up(client):
    with TestCase.captureOnCommitCallbacks(execute=True):
        response = client.post(
            reverse("accounts:signup"),
            {
                "email": "dave@example.com",
                "display_name": "Dave\u202e",
                "password": "a-long-and-unusual-passphrase",
                "password_again": "a-long-and-unusual-passphrase",
            },
        )

    assert response.status_code == 200
    assert refusal("U+202E").encode() in response.content
    assert not User.objects.filter(email="dave@example.com").exists()


def test_it_refuses_a_display_name_with_control_characters_on_the_profile(client, alice):
    client.force_login(alice)

    response = client.post(
        reverse("accounts:profile"), {"display_name": "Al\x1b[31m", "theme": "dark"}
    )

    assert response.status_code == 200
    assert refusal("U+001B").encode() in response.content
    alice.refresh_from_db()
    assert (alice.display_name, alice.theme) == ("Alice", "")


def test_it_strips_control_characters_from_a_tokens_on_chain_name(alice, localnet):
    seeded = seed_token(localnet.cluster, name="Evil\u202eCoin\x1b[2J", symbol="EV\u2066L")

    token = token_register(owner=alice, network="localnet", mint=str(seeded.mint))

    assert (token.name, token.symbol) == ("EvilCoin[2J", "EVL")
