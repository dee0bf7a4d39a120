"""Fixtures for the SDK tests: the gateway under test, its key, and the mock providers' control API.

scripts/test starts the mock providers and the data plane on free ports, seeds a key, and
passes them in through AIG_BASE_URL, AIG_GATEWAY_URL, AIG_KEY and AIG_MOCK_URL.
"""

import os
import time

import httpx
import pytest

# How long a test waits for the gateway to stop reporting degraded providers. A 429 from the
# mock carries `retry-after: 1`, which marks the provider degraded for a second (SPEC §5); a
# mark from the monitor's evaluation lasts one tick but is cleared by its probe once the
# mock is back to normal.
HEALTH_SETTLES_WITHIN_S = 15


def _env(name: str) -> str:
    value = os.environ.get(name)
    if not value:
        pytest.fail(f"{name} is not set: run these tests through scripts/test", pytrace=False)
    return value


@pytest.fixture(scope="session")
def base_url() -> str:
    """The OpenAI-style base URL, e.g. http://127.0.0.1:PORT/v1."""
    return _env("AIG_BASE_URL")


@pytest.fixture(scope="session")
def gateway_url() -> str:
    """The data plane's root, e.g. http://127.0.0.1:PORT."""
    return _env("AIG_GATEWAY_URL")


@pytest.fixture(scope="session")
def anthropic_base_url(gateway_url: str) -> str:
    """The Anthropic SDK's base_url for the gateway, e.g. http://127.0.0.1:PORT/anthropic."""
    return f"{gateway_url}/anthropic"


@pytest.fixture(scope="session")
def api_key() -> str:
    """A live sk-aig- key of the seeded demo tenant."""
    return _env("AIG_KEY")


class MockProviders:
    """The mock providers' control API: failure modes and the log of requests they received."""

    def __init__(self, url: str) -> None:
        self._http = httpx.Client(base_url=url, timeout=10)

    def reset(self) -> None:
        self._http.post("/_mock/reset").raise_for_status()

    def set_mode(self, provider: str, mode: str) -> None:
        self._http.put(f"/_mock/providers/{provider}/mode", json={"mode": mode}).raise_for_status()

    def requests(self, provider: str) -> dict:
        """`{"count": N, "requests": [...]}` for what `provider` received since the last reset."""
        response = self._http.get(f"/_mock/providers/{provider}/requests")
        response.raise_for_status()
        return response.json()

    def request_count(self, provider: str) -> int:
        return self.requests(provider)["count"]

    def bodies(self, provider: str) -> list:
        """The JSON bodies of the chat requests `provider` received, in arrival order."""
        return [request["body"] for request in self.requests(provider)["requests"]]

    def cancelled(self, provider: str) -> int:
        """How many of `provider`'s streamed answers lost their client before the last frame."""
        return self.requests(provider)["cancelled"]

    def close(self) -> None:
        self._http.close()


def wait_until_no_provider_is_degraded(gateway_url: str) -> None:
    """Waits until the gateway's /healthz reports every provider `ok`, so a test starts from
    a healthy chain whatever the tests before it made the health monitor see."""
    deadline = time.monotonic() + HEALTH_SETTLES_WITHIN_S
    while True:
        providers = httpx.get(f"{gateway_url}/healthz", timeout=5).json().get("providers", {})
        degraded = sorted(name for name, state in providers.items() if state != "ok")
        if not degraded:
            return
        if time.monotonic() > deadline:
            pytest.fail(
                f"providers still degraded after {HEALTH_SETTLES_WITHIN_S} s: {degraded}",
                pytrace=False,
            )
        time.sleep(0.05)


@pytest.fixture
def mock(gateway_url: str) -> MockProviders:
    """The mock providers, reset before and after the test so tests don't see each other's
    faults, and a gateway whose health monitor marks no provider degraded."""
    providers = MockProviders(_env("AIG_MOCK_URL"))
    providers.reset()
    wait_until_no_provider_is_degraded(gateway_url)
    try:
        yield providers
    finally:
        providers.reset()
        providers.close()


@pytest.fixture
def anthropic_rate_limited(mock: MockProviders):
    """Every Anthropic request answers 429 for the length of the test."""
    mock.set_mode("anthropic", "fail-429")
    try:
        yield mock
    finally:
        mock.set_mode("anthropic", "normal")


def pytest_collection_modifyitems(items):
    """The OpenAI seed tests go first, opening with the healthy-primary test, so the seed's
    Step 1 runs on a gateway that has seen nothing yet. The rest keep file order."""
    items.sort(key=lambda item: item.path.name != "test_seed_openai.py")
