"""vmbackup.conf as the backup extension's ConfigParser reads it, and bcdrfix's minimal edits."""

from __future__ import annotations

import configparser

import pytest

from bcdrfix.linux import vmbackup_conf as v

DESIRED = v.normalise_desired(
    {"MountsToSkip": ["/mnt/resource", "/data"], "SafeFreezeWaitInSeconds": 600}
)


def extension_view(text: str) -> dict[str, str]:
    """What HandlerUtil.get_value_from_configfile returns for each key (None: default used)."""
    parser = configparser.ConfigParser()
    try:
        parser.read_string(text)
    except configparser.Error:
        return {}
    if not parser.has_section("SnapshotThread"):
        return {}
    return dict(parser.items("SnapshotThread"))


def test_missing_file_is_created_with_the_section():
    text, changes = v.edit(None, DESIRED)
    assert extension_view(text) == {
        "mountstoskip": "/mnt/resource,/data",
        "safefreezewaitinseconds": "600",
    }
    assert changes == [
        "added MountsToSkip = /mnt/resource,/data",
        "added SafeFreezeWaitInSeconds = 600",
    ]


def test_other_sections_keys_and_comments_are_kept_and_second_edit_changes_nothing():
    original = (
        "; site settings, do not remove\n[lsblkUser]\nusername: vmadmin\n\n"
        "[SnapshotThread]\n# tuned for the SAN\ntimeout=120\nSafeFreezeWaitInSeconds = 90\n\n# end\n"
    )
    text, _ = v.edit(original, DESIRED)
    assert text == (
        "; site settings, do not remove\n[lsblkUser]\nusername: vmadmin\n\n"
        "[SnapshotThread]\n# tuned for the SAN\ntimeout=120\nSafeFreezeWaitInSeconds = 600\n"
        "MountsToSkip = /mnt/resource,/data\n\n# end\n"
    )
    assert v.edit(text, DESIRED) == (text, [])
    states, problem = v.inspect(text, DESIRED)
    assert problem is None and all(s.compliant for s in states)


def test_keys_before_any_section_make_the_extension_ignore_the_file_and_are_repaired():
    broken = "# no header\nMountsToSkip = /mnt/resource\nfsfreeze = True\nskip /data too\n"
    states, problem = v.inspect(broken, DESIRED)
    assert "no section headers" in problem
    assert not any(s.compliant for s in states)
    text, changes = v.edit(broken, DESIRED)
    assert text.startswith("# no header\n[SnapshotThread]\n")
    assert "# bcdrfix (not a key = value line" in text and "skip /data too" in text
    assert extension_view(text)["mountstoskip"] == "/mnt/resource,/data"
    assert extension_view(text)["fsfreeze"] == "True"  # kept, although the extension ignores it
    assert any("missing [SnapshotThread] header" in c for c in changes)


def test_duplicate_key_wrong_case_section_duplicate_section_and_glued_line():
    broken = (
        "[snapshotthread]\nseqsnapshot = 1\n  SafeFreezeWaitInSeconds=100\n"
        "[SnapshotThread]\nMountsToSkip=/x\nmountstoskip=/y\n"
    )
    assert (
        v.read(broken)[0] is None or extension_view(broken).get("safefreezewaitinseconds") != "100"
    )
    text, changes = v.edit(broken, DESIRED)
    view = extension_view(text)
    assert view == {
        "seqsnapshot": "1",
        "safefreezewaitinseconds": "600",
        "mountstoskip": "/mnt/resource,/data",
    }
    assert "# bcdrfix (duplicate key, the last one is kept): MountsToSkip=/x" in text
    assert text.count("[SnapshotThread]") == 1 and "[snapshotthread]" not in text
    assert v.edit(text, DESIRED) == (text, [])


def test_mounts_to_skip_with_spaces_is_reported_because_the_extension_does_not_trim():
    text = "[SnapshotThread]\nMountsToSkip = /mnt/resource, /data\n"
    states, _ = v.inspect(text, DESIRED)
    assert not states[0].compliant  # ' /data' is not '/data' for the extension
    assert any("' /data'" in entry for entry in v.ineffective_entries(text))
    fixed, _ = v.edit(text, DESIRED)
    assert "MountsToSkip = /mnt/resource,/data" in fixed


def test_order_of_mounts_does_not_matter():
    text = "[SnapshotThread]\nMountsToSkip=/data,/mnt/resource\nSafeFreezeWaitInSeconds=600\n"
    assert v.edit(text, DESIRED) == (text, [])


def test_none_removes_a_key_also_from_the_default_section():
    text = "[DEFAULT]\nisanysnapshotfailed = True\n[SnapshotThread]\nisanysnapshotfailed = True\n"
    desired = v.normalise_desired({"isanysnapshotfailed": None})
    fixed, _ = v.edit(text, desired)
    parser, _ = v.read(fixed)
    assert not parser.has_option("SnapshotThread", "isanysnapshotfailed")


def test_template_key_and_unknown_keys_are_refused_with_one_line():
    with pytest.raises(ValueError, match="fsfreeze.*not read by the extension"):
        v.normalise_desired({"fsfreeze": True})
    with pytest.raises(ValueError, match="'MountToSkip' is not a key the backup extension reads"):
        v.normalise_desired({"MountToSkip": "/a"})
    with pytest.raises(ValueError, match="'/' cannot be skipped|cannot be skipped"):
        v.normalise_desired({"MountsToSkip": ["/", "/data"]})
    with pytest.raises(ValueError, match="not an absolute mount point"):
        v.normalise_desired({"MountsToSkip": "data"})
    with pytest.raises(ValueError, match="expected a whole number"):
        v.normalise_desired({"SafeFreezeWaitInSeconds": "ten"})
    with pytest.raises(ValueError, match="expected 0, 1 or 2"):
        v.normalise_desired({"seqsnapshot": 5})


def test_values_are_written_in_the_extensions_spelling():
    desired = v.normalise_desired(
        {"mountstoskip": "/a, /b", "ONLYLOCALFILESYSTEMS": "yes", "isanysnapshotfailed": False}
    )
    assert desired == {
        "MountsToSkip": "/a,/b",
        "onlyLocalFilesystems": "True",
        "isanysnapshotfailed": "False",
    }
