"""Personas and shared fixtures (helpers are in tests/support/).

alice owns things, bob is another user who must never see them, carol is an admin.
Everything runs against the real Postgres and Redis of the embedded stack (or DATABASE_URL /
REDIS_URL when set).

Two chains, two names: `localnet` is the session's localnet (the platform's `localnet` network
pointed at it); `chain` is the run engine's fast localnet (20 ms slots, so a blockhash expires
in 3 s) with faults to switch on, and `setup` alice's token seeded on it. `balances` is no
chain at all: balance reads answered from a FakeReader.
"""

import time

import pytest
from django.core.cache import cache
from rest_framework.test import APIClient

from apps.chain.constants import TOKEN_2022_PROGRAM_ID
from apps.localnet import Cluster
from apps.localnet.server import start_server
from tests.factories import PASSWORD, UserFactory
from tests.support.balances import FakeReader, fake_balances
from tests.support.campaigns import Setup
from tests.support.mfa import enrol
from tests.support.redis import PrivateRedis, celery_pool_reopened, redis_pointed_at
from tests.support.web import bearer
from tests.workers import threads_worker

SLOT_MS = 20  # the engine's localnet: a blockhash (150 slots) expires in 3 s


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    """Report a failure even when CPython 3.11 cannot parse its source for the display.

    Python 3.11 keeps one AST recursion-depth counter per interpreter (cpython gh-106905), so
    pytest's `ast.parse` of a failing test's source can race a worker thread that formats a
    traceback at that moment. The SystemError became a pytest INTERNALERROR that ended the
    whole run and hid the failure. The race is momentary: build the report again, and in the
    end without pytest's source display (a plain Python traceback)."""
    try:
        return (yield)
    except SystemError as error:
        if "AST constructor recursion depth mismatch" not in str(error):
            raise
    for _ in range(3):
        time.sleep(0.05)
        try:
            return pytest.TestReport.from_item_and_call(item, call)
        except SystemError:
            continue
    option, style = item.config.option, item.config.option.tbstyle
    option.tbstyle = "native"
    try:
        return pytest.TestReport.from_item_and_call(item, call)
    finally:
        option.tbstyle = style


@pytest.fixture
def password():
    return PASSWORD


@pytest.fixture
def alice(db):
    return UserFactory(email="alice@example.com", display_name="Alice")


@pytest.fixture
def bob(db):
    return UserFactory(email="bob@example.com", display_name="Bob")


@pytest.fixture
def carol(db):
    return UserFactory(
        email="carol@example.com", display_name="Carol", is_staff=True, is_superuser=True
    )


@pytest.fixture
def alice_mfa(alice):
    """alice's authenticator (two-factor on): `.code()` for a fresh code, `.recovery_codes`."""
    return enrol(alice)


@pytest.fixture(autouse=True)
def _clear_cache():
    # The cache is a real Redis shared by every test: start each one empty (rate limits, locks).
    # Only this run's keys: `cache.clear()` would flush the database under a concurrent run too.
    client = cache._cache.get_client(None, write=True)
    keys = list(client.scan_iter(match=f"{cache.key_prefix}:*", count=1000))
    if keys:
        client.delete(*keys)
    yield


@pytest.fixture
def api_client():
    return APIClient()


@pytest.fixture
def alice_api(alice):
    client = APIClient()
    client.credentials(**bearer(alice))
    return client


@pytest.fixture
def bob_api(bob):
    client = APIClient()
    client.credentials(**bearer(bob))
    return client


@pytest.fixture(scope="session")
def localnet_server():
    """One localnet served over HTTP for the session (workers in other processes need HTTP).
    Tests seed their own tokens (fresh random mints), so they do not see each other's state."""
    from apps.localnet.server import start_server

    server = start_server()
    yield server
    server.stop()


@pytest.fixture
def localnet(localnet_server, settings):
    """The session localnet, with the platform's `localnet` network pointed at it."""
    settings.SOLANA_RPC_URLS = {**settings.SOLANA_RPC_URLS, "localnet": [localnet_server.url]}
    return localnet_server


@pytest.fixture
def balances(monkeypatch) -> FakeReader:
    """Chain balance reads answered from a FakeReader (set `.lamports`, `.tokens`, `.down`)."""
    return fake_balances(monkeypatch)


@pytest.fixture
def alice_setup(alice):
    """alice's token, pool and funding wallet: rows only."""
    return Setup(alice)


@pytest.fixture
def bob_setup(bob):
    return Setup(bob)


@pytest.fixture(scope="session")
def engine_localnet():
    server = start_server(cluster=Cluster(slot_ms=SLOT_MS))
    yield server
    server.stop()


@pytest.fixture
def chain(engine_localnet, settings):
    """The fast localnet as the platform's `localnet` network, with its faults reset."""
    settings.SOLANA_RPC_URLS = {**settings.SOLANA_RPC_URLS, "localnet": [engine_localnet.url]}
    # Localnet trades confirm in milliseconds: plan 1 s windows, a trade busy for 300 ms.
    settings.EXECUTION_PLAN_WINDOW_MS = 1_000
    settings.EXECUTION_BUSY_MS = 300
    faults = engine_localnet.faults
    yield engine_localnet
    faults.drop_transactions = faults.down = faults.rate_limited = False
    faults.latency_s = 0.0


@pytest.fixture
def setup(alice, chain):
    return Setup(alice, chain.cluster)


@pytest.fixture
def setup_token_2022(alice, chain):
    return Setup(alice, chain.cluster, token_program=TOKEN_2022_PROGRAM_ID)


@pytest.fixture
def workers():
    """Real Celery workers (threads) consuming every queue through the real broker."""
    with threads_worker(concurrency=8, shutdown_timeout=30):
        yield


@pytest.fixture(autouse=True)
def _celery_broker_pool_open():
    celery_pool_reopened()


@pytest.fixture
def private_redis(tmp_path, settings):
    """A redis-server of this test's own, running, with this process's cache, channel layer and
    Celery broker on it (`tests.support.redis`): stop and start it at will."""
    server = PrivateRedis(tmp_path)
    server.start()
    with redis_pointed_at(server, settings):
        yield server
    if server.running():
        server.stop()
