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
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "--salescaling-time-scale=5", "-o",
                                           "markers=salescaling", "-W", "ignore::DeprecationWarning")
    result.assert_outcomes(passed=1, failed=1)  # the default 50 records != 7: proves the data is real
    result.stdout.fnmatch_lines(["*assert 50 == 7*"])
