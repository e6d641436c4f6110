"""`env.env_number`: the one reader of numeric settings (`config.Settings`, `quota.settings`)."""

from __future__ import annotations

import pytest

from neurolink_ui.env import env_number
from neurolink_ui.quota.settings import QuotaConfigError

KEY = "NEUROLINK_SOMETHING"


@pytest.mark.parametrize("raw", [None, "", "   "])
def test_unset_or_blank_is_the_default(raw: str | None) -> None:
    env = {} if raw is None else {KEY: raw}
    assert env_number(env, KEY, 7.5, unit="seconds") == 7.5


def test_values_are_read_as_numbers_of_their_kind() -> None:
    assert env_number({KEY: " 2.5 "}, KEY, 1, unit="MB") == 2.5
    whole = env_number({KEY: "16"}, KEY, 1, unit="files", whole=True)
    assert whole == 16 and isinstance(whole, int)
    assert env_number({KEY: "0"}, KEY, 5, whole=True, zero_disables=True) == 0


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ("two gigs", "NEUROLINK_SOMETHING must be a number of MB, got 'two gigs'"),
        ("0", "NEUROLINK_SOMETHING must be a positive number of MB, got '0'"),
        ("-3", "must be a positive number of MB"),
        ("inf", "must be a positive number of MB"),
        ("nan", "must be a positive number of MB"),
    ],
)
def test_a_positive_setting_refuses_what_is_not_one(raw: str, message: str) -> None:
    with pytest.raises(ValueError) as refused:
        env_number({KEY: raw}, KEY, 1.0, unit="MB")
    assert message in str(refused.value)


@pytest.mark.parametrize(
    ("raw", "whole", "message"),
    [
        ("1.5", True, "must be a whole number (0 disables it), got '1.5'"),
        ("1e3", True, "must be a whole number (0 disables it)"),
        ("-1", True, "must be a whole number from 0 to 10^9 (0 disables it), got '-1'"),
        ("1" + "0" * 12, True, "from 0 to 10^9"),
        ("nan", False, "must be a number of seconds from 0 to 10^9 (0 disables it)"),
        ("soon", False, "must be a number of seconds (0 disables it), got 'soon'"),
    ],
)
def test_a_limit_refuses_with_the_error_class_it_is_given(
    raw: str, whole: bool, message: str
) -> None:
    with pytest.raises(QuotaConfigError) as refused:
        env_number(
            {KEY: raw},
            KEY,
            1,
            unit="" if whole else "seconds",
            whole=whole,
            zero_disables=True,
            error=QuotaConfigError,
        )
    assert str(refused.value).startswith(KEY) and message in str(refused.value)


def test_the_results_database_is_a_postgresql_url() -> None:
    from neurolink_ui.config import Settings

    url = "postgresql://neurolink:secret@db:5432/neurolink"
    settings = Settings.from_env({"NEUROLINK_DATABASE_URL": f"  {url} "})
    assert settings.database_url == url and "secret" not in repr(settings)
    assert Settings.from_env({}).database_url is None
    with pytest.raises(ValueError, match="NEUROLINK_DATABASE_URL must be a PostgreSQL URL"):
        Settings.from_env({"NEUROLINK_DATABASE_URL": "mysql://db/neurolink"})
