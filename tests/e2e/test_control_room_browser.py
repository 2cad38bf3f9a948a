"""An operator (carol) opens the control room in Chromium with a run active, watches the stats
refresh by themselves, and pauses all campaigns."""

import pytest

from apps.core.models import SystemSwitch
from tests.factories import PASSWORD
from tests.support.campaigns import SOL, make_campaign, make_execution, make_job
from tests.workers import threads_worker

pytestmark = pytest.mark.django_db(transaction=True)


def test_it_shows_the_control_room_to_an_operator_and_pauses_all(
    live_server, localnet, page, screenshots, carol, alice, settings
):
    settings.OPS_CONTROL_ROOM_REFRESH_S = 1
    run = make_campaign(alice, status="active", name="Alice's run").runs.get()
    job = make_job(run, status="succeeded", type="trade_buy")
    for n, side in enumerate(["buy", "sell", "buy"]):
        make_execution(run, job=job, side=side, sol=SOL // 20, n=n)
    make_job(run, status="dead", type="plan", sequence=7)

    with threads_worker():
        page.goto(f"{live_server.url}/admin/")
        page.fill("#id_username", carol.email)
        page.fill("#id_password", PASSWORD)
        page.get_by_role("button", name="Log in").click()
        page.get_by_role("link", name="Control room").click()

        page.get_by_role("heading", name="Control room").wait_for()
        assert page.locator("#kpi-running").inner_text() == "1"
        assert page.locator("#kpi-trades-hour").inner_text() == "3"
        assert page.locator("#kpi-volume-day").inner_text() == "0.150000000"
        assert page.locator("#kpi-dead").inner_text() == "1"
        page.locator("#workers").get_by_text("trade.buy").wait_for()
        page.locator("#rpc").get_by_text("localnet-0").wait_for()
        assert page.locator("#rpc").get_by_text("up").count() >= 1
        page.screenshot(path=screenshots / "control-room.png", full_page=True)

        # A trade lands: the stats partial refreshes without a reload.
        make_execution(run, job=job, side="sell", sol=SOL // 20, n=3)
        page.locator("#kpi-trades-hour").get_by_text("4").wait_for()

        page.get_by_label("Pause every campaign (shown to all users):").fill("RPC incident")
        page.get_by_role("button", name="Pause all").click()
        page.locator("#pause-all").get_by_text("All campaigns are paused").wait_for()
        assert SystemSwitch.objects.get(name="pause_all").enabled is True
        page.screenshot(path=screenshots / "control-room-paused.png", full_page=True)
