"""What an administrator pastes into ``bcdrfix explain`` / ``fix --code``: pasted error lines,
full-width characters, Japanese and Korean messages without their spaces, the articles' other
names and messages."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from bcdrfix.catalog import load_catalog
from bcdrfix.cli.main import main
from bcdrfix.controls import REGISTRY


@pytest.fixture(scope="module")
def catalog():
    return load_catalog(REGISTRY)


@pytest.mark.parametrize(
    "text,codes",
    [
        # a code in a pasted line wins over a message match (here: another code's message)
        ("Error 151099: Task execution has timed out", ["151099"]),
        ("Error 151099: Could not communicate with the VM agent for snapshot status", ["151099"]),
        ("エラー コード:151076 Task execution has timed out", ["151076"]),
        # full-width forms, as an IME types them (NFKC)
        ("１５１０９９", ["151099"]),
        (
            "ＵｓｅｒＥｒｒｏｒＧｕｅｓｔＡｇｅｎｔＳｔａｔｕｓＵｎａｖａｉｌａｂｌｅ",
            ["UserErrorGuestAgentStatusUnavailable"],
        ),
        ("エラーコード：１５１０９９", ["151099"]),
        # the articles' anchor name for ExtensionOperationFailedForManagedDisks
        ("ExtensionOperationFailed", ["ExtensionOperationFailedForManagedDisks"]),
        ("extensionoperationfailed", ["ExtensionOperationFailedForManagedDisks"]),
        # 400094's two Japanese messages
        ("仮想マシンが存在しません", ["400094"]),
        ("Azure 仮想マシンが見つかりませんでした", ["400094"]),
    ],
)
def test_lookup(catalog, text, codes):
    assert catalog.lookup(text).codes == codes


@pytest.mark.parametrize(
    "spaced",
    [
        "VM エージェントと通信できませんでした",
        "Azure 仮想マシンが見つかりませんでした",
        "확장 작업이 시작될 때까지 추적하는 동안 작업 실행 시간이 초과되었습니다",
        "이전 Site Recovery 확장 작업이 예상보다 더 오래 걸립니다",
    ],
)
def test_japanese_and_korean_messages_match_without_spaces(catalog, spaced):
    with_spaces = catalog.lookup(spaced)
    assert with_spaces.how == "message"
    assert catalog.lookup(spaced.replace(" ", "")).codes == with_spaces.codes
    assert catalog.lookup(spaced.replace(" ", "\u3000")).codes == with_spaces.codes


def test_english_fragments_still_need_their_spaces(catalog):
    # compacting is for scripts written without spaces; English words must not run together
    assert catalog.lookup("Could not communicate with the VM agent").how == "message"
    with pytest.raises(LookupError):
        catalog.lookup("CouldnotcommunicatewiththeVMagent")


def test_explain_shows_and_exports_the_second_japanese_message():
    runner = CliRunner()
    text = runner.invoke(main, ["explain", "400094"], catch_exceptions=False).stdout
    assert "ja: 仮想マシンが存在しません" in text
    assert "ja: Azure 仮想マシンが見つかりませんでした" in text
    data = json.loads(runner.invoke(main, ["explain", "400094", "--json"]).stdout)
    (entry,) = data["entries"]
    assert entry["localized"] == {"ja": "仮想マシンが存在しません"}
    assert entry["localized_variants"] == {"ja": ["Azure 仮想マシンが見つかりませんでした"]}
    alias = json.loads(
        runner.invoke(main, ["explain", "ExtensionOperationFailed", "--json"]).stdout
    )
    assert alias["matched_by"] == "code"
    assert "ExtensionOperationFailed" in alias["entries"][0]["aliases"]


def test_explain_quiet_prints_one_line_per_matched_code():
    result = CliRunner().invoke(
        main, ["explain", "-q", "Error 151099: Task execution has timed out"]
    )
    assert result.exit_code == 0
    (line,) = result.stdout.splitlines()
    assert line.startswith("151099: ")
