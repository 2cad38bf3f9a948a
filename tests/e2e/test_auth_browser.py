import re

from django.core import mail

from apps.accounts.models import User

PASSWORD = "a-long-and-unusual-passphrase"


def test_it_signs_up_verifies_and_signs_in_in_chromium(live_server, page, screenshots):
    page.goto(f"{live_server.url}/accounts/signup/")
    page.get_by_label("E-mail").fill("erin@example.com")
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_label("Password again").fill(PASSWORD)
    page.get_by_role("button", name="Sign up").click()

    page.get_by_role("heading", name="Check your inbox").wait_for()
    assert User.objects.get(email="erin@example.com").email_verified_at is None
    (message,) = mail.outbox
    path = re.search(r"/accounts/verify/\S+/", message.body).group(0)

    page.goto(f"{live_server.url}{path}")
    page.get_by_text("Your e-mail address is verified.").wait_for()
    page.get_by_label("E-mail", exact=True).first.fill("erin@example.com")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()

    page.get_by_role("heading", name="Dashboard").wait_for()
    assert page.url == f"{live_server.url}/dashboard/"
    assert User.objects.get(email="erin@example.com").email_verified_at is not None
    page.screenshot(path=screenshots / "dashboard.png", full_page=True)

    page.set_viewport_size({"width": 375, "height": 800})
    page.get_by_text("Menu").click()
    page.get_by_role("button", name="Switch between light and dark theme").click()
    page.wait_for_function("document.documentElement.dataset.theme !== undefined")
    chosen = page.evaluate("document.documentElement.dataset.theme")
    page.wait_for_timeout(300)  # the toggle saves the choice with a background request
    assert User.objects.get(email="erin@example.com").theme == chosen
    page.screenshot(path=screenshots / "dashboard-375.png", full_page=True)
