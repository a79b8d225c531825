"""The pytest plugin, as a user's test suite sees it (run through pytester)."""

from __future__ import annotations

import pytest

pytest_plugins = ["pytester"]


def test_fixtures_and_marker_work_in_a_user_suite(pytester: pytest.Pytester) -> None:
    """A user's async tests get a running simulator and a connected client, configured by marker."""
    pytester.makeini("[pytest]\nasyncio_mode = auto\n")
    pytester.makepyfile(
        """
        import pytest
        from salescaling_async.testing import Fault

        async def test_lists_contacts(salescaling_client):
            contacts = await salescaling_client.contacts.list().to_list()
            assert len(contacts) == 7

        @pytest.mark.salescaling(records=3, time_scale=10, faults=[Fault("status", on={1}, status=503)])
        async def test_marker(salescaling_simulator, salescaling_client):
            assert salescaling_simulator.time_scale == 10
            assert len(await salescaling_client.users.list().to_list()) == 3
            assert salescaling_simulator.stats().faults["status"] == 1
        """
    )
    result = pytester.runpytest_subprocess(
        "-p",
        "no:cacheprovider",
        "--salescaling-time-scale=5",
        "-o",
        "markers=salescaling",
        "-W",
        "ignore::DeprecationWarning",
    )
    result.assert_outcomes(passed=1, failed=1)  # the default 50 records != 7: proves the data is real
    result.stdout.fnmatch_lines(["*assert 50 == 7*"])


def test_works_without_an_asyncio_mode(pytester: pytest.Pytester) -> None:
    """Under pytest-asyncio's default strict mode, async tests using the fixtures run unmarked."""
    pytester.makeini("[pytest]\n")
    pytester.makepyfile(
        """
        import pytest

        async def test_unmarked(salescaling_client):
            assert len(await salescaling_client.users.list().to_list()) == 50

        @pytest.mark.parametrize("n", [1, 2])
        async def test_parametrized(salescaling_simulator, n):
            assert salescaling_simulator.url.startswith("http://127.0.0.1:")
        """
    )
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-W", "ignore::DeprecationWarning")
    result.assert_outcomes(passed=3)


def test_client_options_through_marker_and_fixture(pytester: pytest.Pytester) -> None:
    """``salescaling_client`` markers set retry, limits and timeout; a conftest fixture sets defaults."""
    pytester.makeini("[pytest]\nasyncio_mode = auto\n")
    pytester.makeconftest(
        """
        import pytest
        from salescaling_async import RetryConfig

        @pytest.fixture
        def salescaling_client_options():
            return {"retry": RetryConfig(attempts=1)}
        """
    )
    pytester.makepyfile(
        """
        import pytest
        from salescaling_async import RateLimits, RequestTimeoutError, RetryConfig, ServerError, Window
        from salescaling_async.testing import Fault

        pytestmark = pytest.mark.salescaling(faults=[Fault("status", on={1}, status=503)], records=2)

        async def test_conftest_default_does_not_retry(salescaling_client):
            with pytest.raises(ServerError):
                await salescaling_client.users.list().to_list()

        @pytest.mark.salescaling_client(retry=RetryConfig(attempts=2), limits=RateLimits((Window("w", 7, 1.0),)))
        async def test_marker_retries_and_limits(salescaling_client):
            assert len(await salescaling_client.users.list().to_list()) == 2
            assert dict(salescaling_client.statistics().limits) == {"w": 7}

        @pytest.mark.salescaling(faults=[Fault("latency", probability=1.0, latency=1.0)])
        @pytest.mark.salescaling_client(timeout=0.05)
        async def test_marker_timeout(salescaling_client):
            with pytest.raises(RequestTimeoutError):
                await salescaling_client.users.list().to_list()
        """
    )
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-W", "ignore::DeprecationWarning")
    result.assert_outcomes(passed=3)


def test_backoff_waits_shrink_with_time_scale(pytester: pytest.Pytester) -> None:
    """With ``time_scale=1000`` the client's backoff is 1000 times shorter (jitter off: exact waits)."""
    pytester.makeini("[pytest]\nasyncio_mode = auto\n")
    pytester.makepyfile(
        """
        import pytest
        from salescaling_async import RetryConfig, RetryScheduled
        from salescaling_async.testing import Fault

        events = []

        @pytest.mark.salescaling(time_scale=1000, faults=[Fault("status", on={1, 2}, status=503)])
        @pytest.mark.salescaling_client(retry=RetryConfig(wait_jitter=False), on_event=events.append)
        async def test_scaled(salescaling_client):
            await salescaling_client.users.list().to_list()
            delays = [e.delay for e in events if isinstance(e, RetryScheduled)]
            assert delays == pytest.approx([0.001, 0.002])
        """
    )
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-W", "ignore::DeprecationWarning")
    result.assert_outcomes(passed=1)
