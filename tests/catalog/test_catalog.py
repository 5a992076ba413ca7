"""The error-code catalog: complete against the articles, valid, and found in every spelling."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from bcdrfix.catalog import (
    CatalogError,
    CodeNotFound,
    catalog_text,
    fill_placeholders,
    load_catalog,
    normalise,
    parse_catalog,
)
from bcdrfix.controls import REGISTRY

SEEDS = Path(__file__).resolve().parents[2].parent / "shared" / "seeds"
needs_seeds = pytest.mark.skipif(
    not SEEDS.is_dir(), reason=f"the source articles are not on this machine ({SEEDS})"
)

# Every code and code pair of REFERENCE.md section 1 and the articles (the list).
ARTICLE_CODES = [
    "151076",
    "150066",
    "151099",
    "151095",
    "UserErrorGuestAgentStatusUnavailable",
    "GuestAgentSnapshotTaskStatusError",
    "UserErrorVmProvisioningStateFailed",
    "UserErrorRpCollectionLimitReached",
    "UserErrorKeyvaultPermissionsNotConfigured",
    "ExtensionSnapshotFailedNoNetwork",
    "ExtensionOperationFailedForManagedDisks",
    "BackUpOperationFailed",
    "BackUpOperationFailedV2",
    "UserErrorUnsupportedDiskSize",
    "UserErrorBackupOperationInProgress",
    "VMRestorePointInternalError",
    "CopyingVHDsFromBackUpVaultTakingLongTime",
    "UserErrorVmNotInDesirableState",
    "VmNotInDesirableState",
    "UserErrorFsFreezeFailed",
    "ExtensionSnapshotFailedCOM",
    "ExtensionInstallationFailedCOM",
    "ExtensionInstallationFailedMDTC",
    "ExtensionFailedVssWriterInBadState",
    "ExtensionFailedVssServiceInBadState",
    "UserErrorSkuNotAvailable",
    "UserErrorMarketPlaceVMNotSupported",
    "ExtensionConfigParsingFailure",
    "ExtensionStuckInDeletionState",
    "ExtensionFailedSnapshotLimitReachedError",
    "ExtensionFailedTimeoutVMNetworkUnresponsive",
    "320001",
    "ResourceNotFound",
    "400094",
    "BCMV2VMNotFound",
    "UserErrorBCMPremiumStorageQuotaError",
    "380008",
    "AzureVmOffline",
    "ExtensionSnapshotBitlockerError",
    "ExtensionSnapshotFailedNoSecureNetwork",
    "ExtensionVCRedistInstallationFailure",
    "UserErrorRequestDisallowedByPolicy",
    "UserErrorInstantRpNotFound",
]
# The pairs as the articles write them, and the entries they must reach.
PAIRS = {
    "320001/ResourceNotFound": ["320001"],
    "320001、ResourceNotFound": ["320001"],
    "400094, BCMV2VMNotFound": ["400094"],
    "380008/AzureVmOffline": ["380008"],
    "BackUpOperationFailed / BackUpOperationFailedV2": ["BackUpOperationFailed"],
    "UserErrorVmNotInDesirableState / VmNotInDesirableState": [
        "UserErrorVmNotInDesirableState",
        "VmNotInDesirableState",
    ],
    "ExtensionSnapshotFailedCOM/ExtensionInstallationFailedCOM/ExtensionInstallationFailedMDTC": [
        "ExtensionSnapshotFailedCOM",
        "ExtensionInstallationFailedCOM",
        "ExtensionInstallationFailedMDTC",
    ],
    "UserErrorSkuNotAvailable, UserErrorMarketPlaceVMNotSupported": [
        "UserErrorSkuNotAvailable",
        "UserErrorMarketPlaceVMNotSupported",
    ],
}
# The oldest article's symptoms without codes, by the English text of its headings.
SYMPTOMS = {
    "VM agent unable to communicate with Azure Backup": "symptom-agent-cannot-communicate",
    "Snapshot operation failed due to no network connectivity on the virtual machine": "symptom-snapshot-no-network",
    "VMSnapshot extension operation failed": "symptom-vmsnapshot-failed",
    "Unable to perform the operation as the VM agent is not responsive": "symptom-agent-not-responsive",
    "Backup failed with an internal error - Please retry the operation in a few minutes": "symptom-internal-error",
}


@pytest.fixture(scope="module")
def catalog():
    return load_catalog(REGISTRY)


def spellings(code: str) -> list[str]:
    return [code, code.lower(), code.upper(), f" {code} ", f'"{code}"', f"“{code}”"]


# --- complete and valid -------------------------------------------------------------------------


def test_packaged_catalog_loads_and_every_control_it_names_is_registered(catalog):
    for entry in catalog.entries:
        for cid in entry.control_ids():
            assert cid in REGISTRY, f"{entry.code} names {cid}, which is not a registered control"


@pytest.mark.parametrize("code", ARTICLE_CODES)
def test_every_article_code_resolves_in_every_spelling(catalog, code):
    results = {tuple(catalog.lookup(text).codes) for text in spellings(code)}
    assert len(results) == 1, results
    (codes,) = results
    entry = catalog.get(codes[0])
    assert code.casefold() in {n.casefold() for n in entry.names}


@pytest.mark.parametrize("text,codes", PAIRS.items())
def test_code_pairs_resolve(catalog, text, codes):
    assert catalog.lookup(text).codes == codes


@pytest.mark.parametrize("text,code", SYMPTOMS.items())
def test_uncoded_symptoms_of_the_oldest_article_resolve_by_message(catalog, text, code):
    match = catalog.lookup(text)
    assert code in match.codes
    assert catalog.get(code).kind == "symptom"
    assert [s.file for s in catalog.get(code).sources] == ["001_36104af34a954c07.txt"]


def test_every_message_and_a_fragment_of_it_lead_back_to_its_entry(catalog):
    for entry in catalog.entries:
        for message in entry.messages():
            assert entry.code in catalog.lookup(message).codes, message
        words = entry.message.split()
        fragment = " ".join(words[1:5]) if len(words) > 5 else entry.message
        assert entry.code in catalog.lookup(fragment.lower()).codes, fragment


def test_a_pasted_portal_line_finds_the_code(catalog):
    assert catalog.lookup("エラー コード:151076").codes == ["151076"]
    assert catalog.lookup("Error code: UserErrorFsFreezeFailed (details below)").codes == [
        "UserErrorFsFreezeFailed"
    ]
    pasted = "Error: VM Agent unable to communicate with Azure Backup. Please check the agent."
    assert "UserErrorGuestAgentStatusUnavailable" in catalog.lookup(pasted).codes


def test_audit_codes_and_fix_by_code_use_the_same_mapping(catalog):
    """A control reports exactly the codes whose `fix --code` runs it, and every control has one."""
    for control in REGISTRY.all():
        codes = catalog.codes_for_control(control.id)
        assert codes, f"{control.id} is named by no catalog entry"
        for display in codes:
            (entry,) = catalog.lookup(display).entries
            assert control.id in entry.control_ids(control.platform), (control.id, display)


def test_every_entry_has_causes_sources_and_a_consistent_scope(catalog):
    for entry in catalog.entries:
        assert entry.causes and entry.sources and entry.message
        if entry.scope == "guest":
            assert entry.control_ids(), entry.code
        else:
            assert not entry.control_ids() and entry.steps(), entry.code


def test_settings_named_in_the_advice_exist(catalog):
    from bcdrfix.controls import SETTINGS

    for cause in catalog.causes.values():
        for advice in cause.advice:
            for name in re.findall(r"bcdrfix_[a-z_]+", advice):
                assert name in SETTINGS, f"cause {cause.id} names the unknown setting {name}"


def test_controls_run_in_the_order_a_deploy_needs(catalog):
    # the configuration is written before the agent is (re)started, as in deploys/linux_agent.py
    ids = catalog.get("GuestAgentSnapshotTaskStatusError").control_ids("linux")
    assert ids.index("linux.waagent_conf") < ids.index("linux.agent_service")
    assert ids.index("linux.agent_auto_restart") < ids.index("linux.agent_service")


def test_disruptive_controls_come_from_the_controls_themselves(catalog):
    from bcdrfix.catalog import is_disruptive

    assert is_disruptive(
        catalog.get("ExtensionFailedVssWriterInBadState"), REGISTRY, platform="windows"
    )
    assert not is_disruptive(catalog.get("151095"), REGISTRY)


@needs_seeds
def test_every_code_named_in_the_articles_is_in_the_catalog(catalog):
    found = set()
    for path in sorted(SEEDS.glob("*.txt")):
        text = path.read_text("utf-8")
        # "エラー コード:X", "**エラー コード**:X", "오류 코드: “X”", with pairs written "A / B" or "A、B"
        for line in re.findall(r"(?:エラー コード|오류 코드)\**\s*[:：]\s*([^\n<]+)", text):
            line = re.split(r"エラー メッセージ|오류 메시지", line)[0]
            for code in re.split(r"[/、,\s]+", line):
                code = code.strip("“”\"' ")
                if re.fullmatch(r"[0-9]{6}|[A-Z][A-Za-z0-9]{5,}", code):  # 151076, ResourceNotFound
                    found.add(code)
    assert len(found) == 43, sorted(found)  # what the five articles name today
    missing = sorted(code for code in found if catalog.get(code) is None)
    assert not missing, f"codes in the articles but not in the catalog: {missing}"


@needs_seeds
def test_sources_and_localized_messages_match_the_articles(catalog):
    for source in catalog.sources.values():
        text = (SEEDS / source.file).read_text("utf-8")
        title = re.search(r"^title:\s*(.+)$", text, re.M).group(1).strip().strip("'\"")
        assert normalise(title) == normalise(source.title), source.file
    for entry in catalog.entries:
        bodies = [normalise((SEEDS / s.file).read_text("utf-8")) for s in entry.sources]
        for lang, message in entry.localized.items():
            assert any(normalise(message) in body for body in bodies), (entry.code, lang)


# --- lookup failures --------------------------------------------------------------------------


def test_unknown_code_names_the_nearest_known_codes(catalog):
    with pytest.raises(CodeNotFound) as info:
        catalog.lookup("UserErrorGuestAgentStatusUnavailabe")
    assert info.value.nearest[0] == "UserErrorGuestAgentStatusUnavailable"
    assert "\n" not in str(info.value)
    with pytest.raises(CodeNotFound) as info:
        catalog.lookup("15109")
    assert "151099" in info.value.nearest


def test_short_or_empty_text_matches_nothing(catalog):
    for text in ("", "  ", "VM", "the"):
        with pytest.raises(CodeNotFound):
            catalog.lookup(text)


# --- validation of a broken catalog ---------------------------------------------------------


def broken(old: str, new: str, count: int = 1) -> str:
    text = catalog_text()
    assert old in text, old
    return text.replace(old, new, count)


@pytest.mark.parametrize(
    "old,new,problem",
    [
        (
            "linux: [linux.waagent_conf]\n",
            "linux: [linux.waagent_confx]\n",
            "control linux.waagent_confx does not exist",
        ),
        (
            "linux: [linux.waagent_conf]\n",
            "linux: [windows.dhcp]\n",
            "control windows.dhcp is not a linux control",
        ),
        ('  - code: "150066"', '  - code: "151076"', "'151076' is already used by 151076"),
        (
            "    aliases: [ResourceNotFound]",
            "    aliases: [usererrorfsfreezefailed]",
            "'usererrorfsfreezefailed' is already used by UserErrorFsFreezeFailed",
        ),
        (
            "causes: [agent-out-of-date-linux]\n",
            "causes: [agent-out-of-date]\n",
            "unknown cause 'agent-out-of-date'",
        ),
        (
            "control_plane: [keyvault-grant-backup]",
            "control_plane: [keyvault-grant]",
            "unknown control-plane step",
        ),
        ("--name <vm-name>\n", "--name <vm>\n", "unknown placeholder <vm>"),
        (
            "    sources: [002_cea5ee3a16105707.txt]",
            "    sources: [009_cea5ee3a16105707.txt]",
            "unknown source",
        ),
        (
            "    scope: informational\n    causes: [disk-too-large]",
            "    scope: guest\n    causes: [disk-too-large]",
            "scope guest but no cause has controls",
        ),
    ],
)
def test_broken_references_are_refused_with_one_line(old, new, problem):
    with pytest.raises(CatalogError) as info:
        parse_catalog(broken(old, new), REGISTRY)
    assert problem in str(info.value)
    assert "\n" not in str(info.value)


def test_schema_violations_are_refused():
    with pytest.raises(CatalogError, match=r"codes/0: 'message' is a required property"):
        parse_catalog(
            broken(
                "    message: Task execution has timed out while tracking for extension "
                "operation to be started.\n",
                "",
            ),
            REGISTRY,
        )
    with pytest.raises(CatalogError, match=r"codes/0/platforms/0: 'solaris' is not one of"):
        parse_catalog(
            broken(
                "    platforms: [linux, windows]\n    scope: guest",
                "    platforms: [solaris]\n    scope: guest",
            ),
            REGISTRY,
        )


def test_duplicate_yaml_keys_are_refused():
    text = broken(
        "  agent-status:\n", "  restart-vm:\n    title: x\n    portal: y\n  agent-status:\n"
    )
    with pytest.raises(CatalogError, match="duplicate key 'restart-vm'"):
        parse_catalog(text, REGISTRY)


# --- placeholders -----------------------------------------------------------------------------


def test_placeholders_are_filled_shell_quoted():
    command = "az vm restart --resource-group <resource-group> --name <vm-name>"
    filled = fill_placeholders(command, {"vm-name": "web 01; rm -rf /", "resource-group": "rg1"})
    assert filled == "az vm restart --resource-group rg1 --name 'web 01; rm -rf /'"
    assert fill_placeholders(command, {}) == command


def test_the_packaged_catalog_satisfies_its_schema():
    """load_catalog skips the JSON schema at run time (jsonschema costs every audit ~80 ms):
    the packaged catalog is checked here instead."""
    from bcdrfix.catalog.load import catalog_text, parse_catalog

    assert parse_catalog(catalog_text(), REGISTRY, schema=True).codes_for_control(
        "linux.waagent_conf"
    )
