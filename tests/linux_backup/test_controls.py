"""The six linux_backup controls on observations parsed from captured probe output."""

from __future__ import annotations

import os
import shutil
import subprocess

import pytest
from conftest import file_section, fixture_text, observe

from bcdrfix.controls import REGISTRY, Status, load_settings
from bcdrfix.core.apply import evaluate
from bcdrfix.core.settings import SettingsError
from bcdrfix.linux.vmbackup import TEMPLATE_GLOB

TEMPLATE = TEMPLATE_GLOB.replace("*", "1.0.9170.0")


def run(control_id, observation, settings):
    control = REGISTRY.get(control_id)
    ((_, finding),) = evaluate([control], observation, settings)
    steps = (
        control.fix(observation, settings, finding)
        if finding.status is Status.FAIL and control.fix
        else []
    )
    return finding, steps


# --- vmbackup.conf -------------------------------------------------------------------------------


def test_vmbackup_conf_broken_file_is_repaired_with_owner_mode_kept(settings):
    s = settings(vmbackup_conf={"MountsToSkip": ["/mnt/resource"], "SafeFreezeWaitInSeconds": 600})
    obs = observe({"vmbackup_conf": file_section("MountsToSkip = /mnt/resource\n", mode="600")})
    finding, steps = run("linux.vmbackup_conf", obs, s)
    assert finding.status is Status.FAIL
    assert "ignores every setting" in finding.summary
    (write,) = steps
    assert write.kwargs["path"] == "/etc/azure/vmbackup.conf"
    assert (
        write.kwargs["content"]
        == "[SnapshotThread]\nMountsToSkip = /mnt/resource\nSafeFreezeWaitInSeconds = 600\n"
    )
    assert (
        write.kwargs["current"]["mode"] == "600"
    )  # file_content keeps an existing file's mode/owner
    again = observe({"vmbackup_conf": file_section(write.kwargs["content"], mode="600")})
    assert run("linux.vmbackup_conf", again, s)[0].status is Status.PASS


def test_vmbackup_conf_isanysnapshotfailed_is_set_on_request_and_reported_as_ignored(settings):
    s = settings(vmbackup_conf={"isanysnapshotfailed": False})
    finding, steps = run("linux.vmbackup_conf", observe({"vmbackup_conf": "missing"}), s)
    assert [st.name for st in steps][
        1
    ] == "set on request, but isanysnapshotfailed: ignored by the backup extension since 2019"
    done = observe({"vmbackup_conf": file_section(steps[0].kwargs["content"])})
    finding = run("linux.vmbackup_conf", done, s)[0]
    assert (
        finding.status is Status.PASS
        and "ignored by the backup extension since 2019" in finding.summary
    )


def test_vmbackup_conf_nothing_managed_and_no_file_passes(settings):
    finding, _ = run("linux.vmbackup_conf", observe({"vmbackup_conf": "missing"}), settings())
    assert finding.status is Status.PASS and "uses its defaults" in finding.summary


def test_vmbackup_conf_wrong_case_section_fails_even_with_nothing_managed(settings):
    obs = observe({"vmbackup_conf": file_section("[snapshotthread]\nMountsToSkip=/data\n")})
    finding, steps = run("linux.vmbackup_conf", obs, settings())
    assert finding.status is Status.FAIL and "case-sensitive" in finding.summary
    assert "bcdrfix_vmbackup_conf" in steps[0].kwargs["message"]


def test_template_only_settings_are_reported(settings):
    sections = {
        "vmbackup_templates": f"@@ {TEMPLATE}\n"
        + file_section(
            "[SnapshotThread]\nfsfreeze: True\nMountsToSkip = /mnt/resource\nSafeFreezeWaitInSeconds=600\n"
        ),
        "vmbackup_conf": "missing",
    }
    finding, _ = run("linux.vmbackup_conf_location", observe(sections), settings())
    assert finding.status is Status.FAIL
    assert (
        "MountsToSkip=/mnt/resource, SafeFreezeWaitInSeconds=600 set only in the extension's template"
        in finding.summary
    )
    sections["vmbackup_conf"] = file_section(
        "[SnapshotThread]\nMountsToSkip=/mnt/resource\nSafeFreezeWaitInSeconds = 600\n"
    )
    assert (
        run("linux.vmbackup_conf_location", observe(sections), settings())[0].status is Status.PASS
    )


def test_no_template_is_not_applicable(settings):
    finding, _ = run(
        "linux.vmbackup_conf_location",
        observe({"vmbackup_templates": "", "vmbackup_conf": "missing"}),
        settings(),
    )
    assert finding.status is Status.NOT_APPLICABLE


# --- freeze readiness ----------------------------------------------------------------------------


def freeze_obs(vmbackup: str | None = None):
    return observe(
        {
            "freeze_mounts": fixture_text("freeze-unclean.txt"),
            "vmbackup_conf": file_section(vmbackup),
            "waagent_conf": "missing",
        }
    )


def test_freeze_lists_what_the_extension_freezes_and_the_unfit_mounts(settings):
    finding, _ = run("linux.freeze_readiness", freeze_obs(), settings())
    assert finding.observed["would_freeze"] == ["/", "/data", "/logs", "/srv/archive old"]
    assert set(finding.observed["skipped"]) == {"/boot/efi", "/mnt/resource", "/snap/core/1"}
    unfit = finding.observed["unfit"]
    assert set(unfit) == {"/data", "/srv/archive old"}
    assert "file system state 'clean with errors'" in unfit["/data"]
    assert any("does not respond" in p for p in unfit["/srv/archive old"])
    # Disruptive: without the opt-in it only asks for approval, with the exact suggestion.
    assert finding.status is Status.NEEDS_APPROVAL
    assert "'MountsToSkip': ['/data', '/srv/archive old']" in finding.summary


def shown(step):
    """What the run shows for a step: a note's message, else the operation's name."""
    return step.kwargs.get("message") or step.name


def test_freeze_fix_is_one_mount_at_a_time_and_stops_at_the_first_error(settings):
    s = settings(allow_disruptive=True)
    finding, steps = run("linux.freeze_readiness", freeze_obs(), s)
    assert finding.status is Status.FAIL
    assert [shown(st) for st in steps] == [
        "Unmount, fsck -p and mount /data again",
        "/srv/archive old: bcdrfix repairs ext file systems only; add /srv/archive old to MountsToSkip",
    ]
    script = steps[0].kwargs["commands"][0]
    assert script.splitlines()[0] == "set -e"
    assert "m=/data; d=/dev/sdc" in script
    order = [script.index(word) for word in ('umount "$m"', 'fsck -p "$d"', '\nmount "$m"')]
    assert order == sorted(order)
    assert "stays UNMOUNTED" in script  # fsck failure: said loudly, exit 1, pyinfra stops this host
    assert "-o ro,relatime,errors=remount-ro" in script  # observed options, without 'seclabel'


def test_resource_disk_is_found_by_its_vmbus_device_not_by_the_mount_point(settings):
    """Issue 10: on cloud-init images ResourceDisk.MountPoint says nothing (mounted at /mnt)."""
    text = fixture_text("freeze-unclean.txt").replace("/mnt/resource", "/mnt")
    obs = observe({"freeze_mounts": text, "vmbackup_conf": "missing"})
    finding, _ = run("linux.freeze_readiness", obs, settings())
    assert "VMBus" in finding.observed["skipped"]["/mnt"]
    # A data disk someone mounted at /mnt/resource is frozen like any other.
    text = fixture_text("freeze-unclean.txt").replace("@@ resource-disk\nsdb\n", "")
    obs = observe({"freeze_mounts": text, "vmbackup_conf": "missing"})
    finding, _ = run("linux.freeze_readiness", obs, settings())
    assert "/mnt/resource" in finding.observed["would_freeze"]


def repair_in_private_namespace(setup: str, tmp_path) -> subprocess.CompletedProcess:
    """The repair script for a tmpfs at tmp_path/m, in a mount namespace of its own."""
    from bcdrfix.linux.freeze import repair_mount_script

    mount = tmp_path / "m"
    mount.mkdir()
    script = repair_mount_script({"mount": str(mount), "device": "none", "fstype": "tmpfs"}, "")
    body = f"mount -t tmpfs none {mount} && {setup}\n{script}"
    return subprocess.run(
        ["unshare", "-m", "--propagation", "private", "sh", "-c", body],
        capture_output=True,
        text=True,
        timeout=60,
    )


needs_root_and_unshare = pytest.mark.skipif(
    os.geteuid() != 0 or shutil.which("unshare") is None, reason="needs root and unshare"
)


@needs_root_and_unshare
def test_repair_refuses_a_bind_mounted_file_system(tmp_path):
    (tmp_path / "b").mkdir()
    proc = repair_in_private_namespace(f"mount --bind {tmp_path}/m {tmp_path}/b", tmp_path)
    assert proc.returncode == 1, proc.stderr
    assert "mounted 2 times (bind mounts or other instances)" in proc.stderr
    assert "MountsToSkip" in proc.stderr and "fsck" not in proc.stdout


@needs_root_and_unshare
@pytest.mark.skipif(shutil.which("fuser") is None, reason="needs fuser")
def test_repair_refuses_a_file_system_in_use(tmp_path):
    setup = f"(cd {tmp_path}/m && exec sleep 5) >/dev/null 2>&1 & sleep 0.5"
    proc = repair_in_private_namespace(setup, tmp_path)
    assert proc.returncode == 1, proc.stderr
    assert "in use (fuser -m)" in proc.stderr


def test_mounts_to_skip_removes_the_unfit_mounts(settings):
    s = settings(vmbackup_conf={"MountsToSkip": ["/data", "/srv/archive old"]})
    finding, _ = run("linux.freeze_readiness", freeze_obs(), s)
    assert finding.status is Status.PASS
    assert finding.observed["would_freeze"] == ["/", "/logs"]
    # The file's value counts when group data does not set the key.
    finding, _ = run(
        "linux.freeze_readiness",
        freeze_obs("[SnapshotThread]\nMountsToSkip=/data,/srv/archive old\n"),
        settings(),
    )
    assert finding.status is Status.PASS


def test_root_cannot_be_skipped_and_is_not_unmounted(settings):
    text = fixture_text("freeze-unclean.txt").replace(
        "@@ dev sda1\nresponds: yes",
        "@@ dev sda1\nresponds: yes\nFilesystem state:         clean with errors",
    )
    text = text.replace('FSTYPE="xfs" MOUNTPOINT="/"', 'FSTYPE="ext4" MOUNTPOINT="/"')
    obs = observe({"freeze_mounts": text, "vmbackup_conf": "missing", "waagent_conf": "missing"})
    finding, steps = run("linux.freeze_readiness", obs, settings(allow_disruptive=True))
    assert "/" in finding.observed["unfit"]
    assert "'/'" not in finding.summary.split("MountsToSkip")[1]
    assert "/: the root file system cannot be unmounted" in [shown(st) for st in steps][0]


# --- SELinux -------------------------------------------------------------------------------------


def test_selinux_not_enabled_or_permissive_is_not_applicable(settings):
    for text in ("@@ enforce\nabsent\n", "@@ enforce\n0\n@@ getenforce\nPermissive\n"):
        assert (
            run("linux.selinux_waagent", observe({"selinux": text}), settings())[0].status
            is Status.NOT_APPLICABLE
        )


@pytest.mark.parametrize("fixture", ["selinux-enforcing-mislabeled.txt", "selinux-rhel7-reset.txt"])
def test_selinux_mislabeled_waagent_is_relabeled_not_policy_changed(settings, fixture):
    finding, steps = run(
        "linux.selinux_waagent", observe({"selinux": fixture_text(fixture)}), settings()
    )
    assert finding.status is Status.FAIL
    assert "label the policy does not give them" in finding.summary
    assert [st.kwargs["commands"] for st in steps] == [["restorecon -R -v /var/lib/waagent"]]


def test_selinux_other_domains_denials_are_reported_without_a_change(settings):
    text = (
        fixture_text("selinux-enforcing-mislabeled.txt").split("@@ relabel")[0]
        + "@@ relabel\n@@ avc\n"
        + fixture_text("selinux-enforcing-mislabeled.txt").split("@@ avc\n")[1]
    )
    finding, _ = run("linux.selinux_waagent", observe({"selinux": text}), settings())
    assert finding.status is Status.PASS and "sshd_t" in finding.summary


def test_selinux_confined_agent_domain_needs_the_explicit_switch(settings):
    obs = observe({"selinux": fixture_text("selinux-confined-denied.txt")})
    finding, steps = run("linux.selinux_waagent", obs, settings())
    assert finding.status is Status.FAIL
    assert (
        "2 recent denial(s) of the agent's confined domain waagent_t" in finding.summary
    )  # old one ignored
    assert "bcdrfix_selinux_permissive_agent_domain=true" in steps[0].kwargs["message"]
    _, steps = run("linux.selinux_waagent", obs, settings(selinux_permissive_agent_domain=True))
    assert steps[0].kwargs["commands"] == [
        "semanage permissive -l | grep -qx waagent_t || semanage permissive -a waagent_t"
    ]
    # Once the domain is listed as permissive, the check passes: a second run changes nothing.
    done = fixture_text("selinux-confined-denied.txt").replace(
        "Customized Permissive Types\n", "Customized Permissive Types\n\nwaagent_t\n"
    )
    assert (
        run("linux.selinux_waagent", observe({"selinux": done}), settings())[0].status
        is Status.PASS
    )


# --- connectivity --------------------------------------------------------------------------------

LAB = dict(
    wireserver_address="198.18.9.1",
    wireserver_ports=[18080, 32526],
    imds_address="198.18.9.1",
    imds_port=18081,
    storage_endpoints=["store.lab.example"],
    storage_ports=[18443, 18843],
)


def connectivity(results: str, extra: str = "", waagent: str | None = None):
    return observe(
        {"connectivity": extra + "@@ results\n" + results, "waagent_conf": file_section(waagent)}
    )


def test_connectivity_reports_each_endpoint_and_why(settings):
    results = (
        "198.18.9.1:18080 0 \n198.18.9.1:32526 124 \n"
        "198.18.9.1:18081 1 bash: connect: Connection refused bash: line 1: /dev/tcp/198.18.9.1/18081: Connection refused\n"
        "store.lab.example:18443 1 bash: store.lab.example: Name or service not known\n"
        "store.lab.example:18843 1 bash: connect: No route to host\n"
    )
    finding, steps = run("linux.connectivity", connectivity(results), settings(**LAB))
    assert finding.status is Status.FAIL and steps == []
    rows = finding.observed["endpoints"]
    assert rows == [
        "wireserver 198.18.9.1:18080: open",
        "wireserver 198.18.9.1:32526: no answer in 3s (a firewall or NSG drops it, or no route)",
        "IMDS 198.18.9.1:18081: refused (nothing listens, or a firewall rejects it)",
        "storage store.lab.example:18443: name does not resolve",
        "storage store.lab.example:18843: no route to host",
    ]


def test_storage_goes_through_the_agents_proxy_and_conf_beats_environment(settings):
    env = "@@ environ\nhttps_proxy=http://user:secret@198.18.9.2:3128\nno_proxy=168.63.129.16\n"
    results = "198.18.9.1:18080 0 \n198.18.9.1:32526 0 \n198.18.9.1:18081 0 \n198.18.9.2:3128 0 \n198.18.9.3:8080 1 refused\n"
    finding, _ = run("linux.connectivity", connectivity(results, env), settings(**LAB))
    assert finding.status is Status.PASS
    assert finding.observed["proxy"] == "198.18.9.2:3128"
    assert (
        "secret" not in finding.observed["proxy_source"]
        and "***@" in finding.observed["proxy_source"]
    )
    conf = "HttpProxy.Host=198.18.9.3\nHttpProxy.Port=8080\n"
    finding, _ = run("linux.connectivity", connectivity(results, env, conf), settings(**LAB))
    assert finding.status is Status.FAIL
    assert "storage store.lab.example:18443 via proxy 198.18.9.3:8080: refused" in finding.summary


def test_storage_is_tested_directly_and_through_the_proxy_and_names_the_extensions_path(
    settings,
):
    """Issue 10: with HttpProxy.* in waagent.conf the extension snapshots without the proxy."""
    conf = "HttpProxy.Host=198.18.9.3\nHttpProxy.Port=8080\n"
    base = "198.18.9.1:18080 0 \n198.18.9.1:32526 0 \n198.18.9.1:18081 0 \n198.18.9.3:8080 0 \n"
    blocked = "store.lab.example:18443 124 \nstore.lab.example:18843 124 \n"
    finding, _ = run("linux.connectivity", connectivity(base + blocked, "", conf), settings(**LAB))
    assert finding.status is Status.FAIL
    assert "storage store.lab.example:18443 direct: no answer in 3s" in finding.summary
    assert "without the proxy when HttpProxy.* is set" in finding.summary
    assert finding.observed["extension_storage_path"] == "direct"
    assert (
        "storage store.lab.example:18443 via proxy 198.18.9.3:8080: open"
        in (finding.observed["endpoints"])
    )
    open_ = "store.lab.example:18443 0 \nstore.lab.example:18843 0 \n"
    finding, _ = run("linux.connectivity", connectivity(base + open_, "", conf), settings(**LAB))
    assert finding.status is Status.PASS and "snapshots go directly" in finding.summary
    # https_proxy in the agent's environment: the extension goes through it; direct is blocked.
    env = "@@ environ\nhttps_proxy=http://198.18.9.3:8080\n"
    finding, _ = run("linux.connectivity", connectivity(base + blocked, env), settings(**LAB))
    assert finding.status is Status.PASS and "through the proxy" in finding.summary


def test_no_proxy_suffix_bypasses_the_proxy_and_unit_environment_is_used_when_agent_is_down(
    settings,
):
    unit = (
        '@@ unit\nEnvironment="HTTPS_PROXY=http://198.18.9.2:3128" NO_PROXY=.lab.example\n'
        "EnvironmentFiles=\n"
    )
    results = (
        "198.18.9.1:18080 0 \n198.18.9.1:32526 0 \n198.18.9.1:18081 0 \n"
        "store.lab.example:18443 0 \nstore.lab.example:18843 0 \n"
    )
    finding, _ = run("linux.connectivity", connectivity(results, unit), settings(**LAB))
    assert finding.status is Status.PASS
    assert finding.observed["proxy"] == "198.18.9.2:3128"
    assert all("via proxy" not in row for row in finding.observed["endpoints"])


# --- DHCP ----------------------------------------------------------------------------------------

ROUTE = (
    "@@ route\ndefault via 10.1.0.1 dev eth0 proto dhcp src 10.1.0.4 metric 100\n"
    "@@ addr\n2: eth0    inet 10.1.0.4/24 brd 10.1.0.255 scope global eth0\n"
    "@@ link\n2: eth0: <BROADCAST,MULTICAST,UP,LOWER_UP> mtu 1500 qdisc mq state UP mode DEFAULT "
    "group default qlen 1000\\    link/ether 00:0d:3a:12:34:56 brd ff:ff:ff:ff:ff:ff\n"
)
STATES = "@@ networkd-state\nactive=inactive\nenabled=disabled\n@@ nm-state\nactive=inactive\n"


def net(extra: str, states: str = STATES):
    return observe({"network_config": ROUTE + states + extra})


IFUPDOWN_STATIC = (
    "auto lo\niface lo inet loopback\n\nauto eth0\niface eth0 inet static\n"
    "    address 10.1.0.4/24\n    gateway 10.1.0.1\n    address 10.1.0.5/24\n"
)
NM_ACTIVE = (
    "@@ networkd-state\nactive=inactive\nenabled=disabled\n@@ nm-state\nactive=active\n"
    "@@ nm-connections\n"
    + fixture_text("nmcli-active.txt")
    + "@@ nm-methods\n"
    + fixture_text("nmcli-methods.txt")
)
NETWORKD_ACTIVE = (
    "@@ networkd-state\nactive=active\nenabled=enabled\n@@ nm-state\nactive=inactive\n"
)
STATIC_CONFIGS = {
    "ifcfg": (
        f"@@ file ifcfg /etc/sysconfig/network-scripts/ifcfg-eth0\n"
        f"{file_section(fixture_text('ifcfg-eth0.static'))}\n",
        STATES,
        "BOOTPROTO=none",
    ),
    "suse": (
        f"@@ file ifcfg /etc/sysconfig/network/ifcfg-eth0\n"
        f"{file_section(fixture_text('ifcfg-eth0.suse'))}\n",
        STATES,
        "BOOTPROTO=static",
    ),
    "netplan": (
        f"@@ file netplan /etc/netplan/01-static.yaml\n"
        f"{file_section(fixture_text('netplan-01-static.yaml'))}\n",
        STATES,
        "/etc/netplan/01-static.yaml",
    ),
    "NetworkManager": ("", NM_ACTIVE, "ipv4.method=manual"),
    "networkd": (
        "@@ file networkd /usr/lib/systemd/network/20-eth.network\n"
        + file_section("[Match]\nName=eth*\n\n[Network]\nAddress=10.1.0.4/24\nGateway=10.1.0.1\n")
        + "\n",
        NETWORKD_ACTIVE,
        "/usr/lib/systemd/network/20-eth.network",
    ),
    "ifupdown": (
        f"@@ file ifupdown /etc/network/interfaces\n{file_section(IFUPDOWN_STATIC)}\n",
        STATES,
        "/etc/network/interfaces",
    ),
}


@pytest.mark.parametrize("kind", sorted(STATIC_CONFIGS))
def test_static_address_is_reported_never_rewritten(settings, kind):
    """Issue 10: linux.dhcp rewrote network configuration unasked (secondary addresses lost)."""
    from bcdrfix.core.operations.report import note as note_op

    extra, states, where = STATIC_CONFIGS[kind]
    finding, steps = run("linux.dhcp", net(extra, states), settings())
    assert finding.status is Status.FAIL and where in finding.summary
    assert [step.op for step in steps] == [note_op]
    assert "bcdrfix reports only" in steps[0].kwargs["message"]
    assert "Azure NIC" in steps[0].kwargs["message"]


def test_netplan_cloud_init_file_matched_by_mac_passes(settings):
    obs = net(
        f"@@ file netplan /etc/netplan/50-cloud-init.yaml\n{file_section(fixture_text('netplan-50-cloud-init.yaml'))}\n"
    )
    finding, _ = run("linux.dhcp", obs, settings())
    assert finding.status is Status.PASS and finding.observed["manager"] == "netplan"


def test_network_manager_connection_names_its_file(settings):
    finding, _ = run("linux.dhcp", net("", NM_ACTIVE), settings())
    assert "/etc/sysconfig/network-scripts/ifcfg-eth0" in finding.summary


def test_no_network_tool_is_not_applicable(settings):
    finding, _ = run("linux.dhcp", net(""), settings())
    assert finding.status is Status.NOT_APPLICABLE


# --- settings ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "values, message",
    [
        (
            {"bcdrfix_wireserver_address": "168.63.129.16; rm -rf /"},
            "bcdrfix_wireserver_address=.*expected an IPv4 address or a host name",
        ),
        (
            {"bcdrfix_storage_ports": [443, 70000]},
            "bcdrfix_storage_ports: '70000' is not a TCP port",
        ),
        ({"bcdrfix_vmbackup_conf": {"fsfreeze": True}}, "bcdrfix_vmbackup_conf: fsfreeze"),
        ({"bcdrfix_connect_timeout": 0}, "expected seconds between 1 and 30"),
        ({"bcdrfix_dhcp_interface": "eth0 up"}, "expected a network interface name"),
    ],
)
def test_bad_settings_fail_before_any_host_with_one_line(values, message):
    with pytest.raises(SettingsError, match=message) as info:
        load_settings(values, "vm1")
    assert "\n" not in str(info.value) and str(info.value).startswith("host vm1: ")
