"""erasure.firmware.tool_version: each tool's version as the tool prints it, read once."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from erasure import firmware
from erasure.methods.base import EraseResult
from tests.conftest import FIXTURES


def fx(name: str) -> str:
    return (FIXTURES / "versions" / name).read_text()


@pytest.fixture(autouse=True)
def fresh_cache() -> Iterator[None]:
    firmware.tool_version.cache_clear()
    yield
    firmware.tool_version.cache_clear()


def test_nvme_version(fake_runner) -> None:  # type: ignore[no-untyped-def]
    fake_runner.add(["nvme", "version"], fx("nvme-cli-2.3-version.stdout"))
    assert firmware.tool_version("nvme") == "nvme version 2.3 (git 2.3)"


def test_hdparm_version(fake_runner) -> None:  # type: ignore[no-untyped-def]
    fake_runner.add(["hdparm", "-V"], fx("hdparm-9.65-V.stdout"))
    assert firmware.tool_version("hdparm") == "hdparm v9.65"


def test_sg3_utils_version_is_on_stderr(fake_runner) -> None:  # type: ignore[no-untyped-def]
    fake_runner.add(["sg_sanitize", "--version"], "",
                    stderr=fx("sg3-utils-1.46-sg_sanitize-version.stderr"))
    fake_runner.add(["sg_requests", "--version"], "",
                    stderr=fx("sg3-utils-1.46-sg_requests-version.stderr"))
    assert firmware.tool_version("sg_sanitize") == "sg_sanitize 1.15 20201223"
    assert firmware.tool_version("sg_requests") == "sg_requests 1.36 20210329"


def test_smartctl_version(fake_runner) -> None:  # type: ignore[no-untyped-def]
    fake_runner.add(["smartctl", "--version"], fx("smartctl-7.3-version.stdout"))
    assert firmware.tool_version("smartctl") == "smartctl 7.3 2022-02-28 r5338"


def test_sedutil_version_from_its_usage_despite_the_exit_status(fake_runner) -> None:  # type: ignore[no-untyped-def]
    fake_runner.add(["sedutil-cli", "--help"], fx("sedutil-1.20.0-help-head.stdout"),
                    returncode=136)
    assert firmware.tool_version("sedutil-cli") == "sedutil-cli v1.20.0"


def test_mmc_utils_by_package_and_missing(fake_runner) -> None:  # type: ignore[no-untyped-def]
    fake_runner.add(["dpkg-query", "-W", "-f=${Version}", "mmc-utils"], "", returncode=1,
                    stderr=fx("dpkg-query-mmc-utils-missing.stderr"))
    assert firmware.tool_version("mmc") is None


def test_unknown_or_absent_tool_is_none(fake_runner) -> None:  # type: ignore[no-untyped-def]
    from erasure import runner

    assert firmware.tool_version("dd") is None

    def missing(argv, timeout, input=None):  # type: ignore[no-untyped-def]
        raise runner.CommandNotFound(argv)

    fake_runner.add_callable(["hdparm", "-V"], missing)
    assert firmware.tool_version("hdparm") is None


def test_read_once_per_process(fake_runner) -> None:  # type: ignore[no-untyped-def]
    calls = []

    def answer(argv, timeout, input=None):  # type: ignore[no-untyped-def]
        from erasure import runner

        calls.append(list(argv))
        return runner.Result(tuple(argv), 0, fx("hdparm-9.65-V.stdout"), "", 0.0)

    fake_runner.add_callable(["hdparm", "-V"], answer)
    assert firmware.tool_version("hdparm") == firmware.tool_version("hdparm") == "hdparm v9.65"
    assert calls == [["hdparm", "-V"]]


def test_recorded_from_the_first_drive_command(fake_runner) -> None:  # type: ignore[no-untyped-def]
    fake_runner.add(["nvme", "version"], fx("nvme-cli-2.3-version.stdout"))
    result = EraseResult("nvme-format-user", "erased", "block erase", details={
        "commands": [{"argv": ["nvme", "format", "/dev/nvme0n1", "--ses=1"], "returncode": 0}]})
    firmware.record_tool_version(result)
    assert result.details["tool_version"] == "nvme version 2.3 (git 2.3)"
    bare = EraseResult("overwrite", "erased", "overwrite")
    firmware.record_tool_version(bare)
    assert "tool_version" not in bare.details
