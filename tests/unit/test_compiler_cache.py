"""The ccache environment given to rpmbuild and to validate's builds."""

from __future__ import annotations

from pathlib import Path

import pytest

from qganb.rpm import compiler_cache


def test_environment_puts_the_masquerade_dir_first(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    if compiler_cache.masquerade_dir() is None:
        pytest.fail("ccache is not installed: `make setup` installs it")
    monkeypatch.setenv("CCACHE_DIR", str(tmp_path / "ccache"))
    env = compiler_cache.compiler_cache_env(tmp_path / "BUILD")
    assert env["PATH"].split(":")[0] == str(compiler_cache.masquerade_dir())
    assert env["CCACHE_BASEDIR"] == str(tmp_path / "BUILD")
    assert env["CCACHE_NOHASHDIR"] == "1"
    assert env["CCACHE_DIR"] == str(tmp_path / "ccache")


def test_qganb_ccache_0_turns_it_off(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("QGANB_CCACHE", "0")
    assert compiler_cache.compiler_cache_env(tmp_path) == {}
