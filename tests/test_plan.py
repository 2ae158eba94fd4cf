"""`hostspec plan OLD NEW`: each pair of specs changes one thing and needs one kind of step."""
from __future__ import annotations

import json

import pytest

from hostspec.commands import cli

BASE = """hostspec 1
# the deployed version
host hv-01 {
    cpu intel
    memory 64GiB
    numa-nodes 2
    kvm { ept on; vpid on }
    hugepages {
        pool 2MiB count 2048 node 0,1
    }
    thp { defrag madvise }
    ksm { run on }
    swap { swappiness 10 }
}
guest db-01 { memory 4GiB; backing hugepages 2MiB node 0; balloon none }
guest web-{01..02} { memory 8GiB }
guest web-03 { memory 8GiB }
"""


def plan(capsys, tmp_path, new_text: str, old_text: str = BASE, *options):
    (tmp_path / "old").mkdir(exist_ok=True)
    (tmp_path / "new").mkdir(exist_ok=True)
    old, new = tmp_path / "old" / "hv-01.mem", tmp_path / "new" / "hv-01.mem"
    old.write_text(old_text)
    new.write_text(new_text)
    status = cli.main(["plan", str(old), str(new), *options])
    out, err = capsys.readouterr()
    return status, out, err


def plan_json(capsys, tmp_path, new_text: str, old_text: str = BASE) -> dict:
    status, out, err = plan(capsys, tmp_path, new_text, old_text, "--format", "json")
    assert status == 0, err
    return json.loads(out)


def changes(report: dict) -> dict[str, tuple[str, str, list[str]]]:
    return {a["path"]: (a["change"], a["takes_effect"], a["details"]) for a in report["artifacts"]}


def test_only_swappiness_changed_applies_at_runtime(capsys, tmp_path):
    report = plan_json(capsys, tmp_path, BASE.replace("swappiness 10", "swappiness 30"))
    assert changes(report) == {"etc/sysctl.d/90-hostspec.conf":
                               ("changed", "runtime", ["`vm.swappiness` 10 -> 30"])}
    assert report["most_disruptive"] == "runtime"
    assert report["action"] == "applies at runtime: run `sysctl --system`"


def test_a_guests_memory_changed_restarts_that_guest(capsys, tmp_path):
    new = BASE.replace("guest web-03 { memory 8GiB }", "guest web-03 { memory 12GiB }")
    report = plan_json(capsys, tmp_path, new)
    assert changes(report) == {"etc/hostspec/domains/web-03.xml": (
        "changed", "guest-restart",
        ["guest `web-03`: `memory` 8GiB -> 12GiB, `current-memory` 8GiB -> 12GiB"])}
    assert report["guests"] == {"added": [], "removed": [], "changed": ["web-03"]}
    assert report["most_disruptive"] == "guest-restart"
    assert report["action"] == ("run `/usr/libexec/hostspec/apply-domains` (it redefines guest "
                                "`web-03`), then restart guest `web-03` where running")


def test_a_kvm_option_changed_needs_the_module_reloaded(capsys, tmp_path):
    report = plan_json(capsys, tmp_path, BASE.replace("vpid on", "vpid off"))
    assert changes(report) == {"etc/modprobe.d/hostspec-kvm.conf":
                               ("changed", "module-reload", ["`kvm_intel vpid` on -> off"])}
    assert report["most_disruptive"] == "module-reload"
    assert report["action"].startswith("needs kvm_intel reloaded: stop every guest")


def test_a_boot_pool_count_changed_needs_a_reboot(capsys, tmp_path):
    report = plan_json(capsys, tmp_path, BASE.replace("count 2048", "count 3072"))
    words = ["`hugepagesz=2M hugepages=0:2048,1:2048` -> `hugepagesz=2M hugepages=0:3072,1:3072`"]
    assert changes(report) == {
        "etc/default/grub.d/99-hostspec.cfg": ("changed", "boot", words),
        "etc/hostspec/kernel-cmdline": ("changed", "boot", words)}
    assert report["most_disruptive"] == "boot"
    assert report["action"] == "needs a reboot: run `update-grub`, then reboot"


def test_thp_enabled_changes_the_cmdline_and_apply_memory_and_needs_a_reboot(capsys, tmp_path):
    report = plan_json(capsys, tmp_path, BASE.replace("thp { defrag madvise }",
                                                      "thp { enabled madvise; defrag madvise }"))
    assert changes(report) == {
        "etc/default/grub.d/99-hostspec.cfg": ("changed", "boot",
                                               ["adds `transparent_hugepage=madvise`"]),
        "etc/hostspec/kernel-cmdline": ("changed", "boot", ["adds `transparent_hugepage=madvise`"]),
        "usr/libexec/hostspec/apply-memory": ("changed", "runtime",
                                              ["`THP enabled` set to madvise"])}
    assert [step["takes_effect"] for step in report["steps"]] == ["runtime", "boot"]
    assert report["steps"][0]["action"] == ("applies at runtime: run "
                                            "`/usr/libexec/hostspec/apply-memory`")
    assert report["most_disruptive"] == "boot"


def test_identical_specs_change_nothing(capsys, tmp_path):
    status, out, err = plan(capsys, tmp_path, BASE)
    assert status == 0 and err == ""
    assert "no artifact changes" in out and "nothing changes" in out
    report = plan_json(capsys, tmp_path, BASE)
    assert report["artifacts"] == [] and report["steps"] == []
    assert report["most_disruptive"] is None and report["action"] == "nothing changes"


def test_a_comment_only_change_changes_no_artifact(capsys, tmp_path):
    """Every header carries the source's sha256; that alone is not a change."""
    new = BASE.replace("# the deployed version", "# reviewed, nothing to change") + "# end\n"
    report = plan_json(capsys, tmp_path, new)
    assert report["artifacts"] == [] and report["most_disruptive"] is None


def test_guests_added_and_removed(capsys, tmp_path):
    new = BASE.replace("guest web-03 { memory 8GiB }", "guest web-04 { memory 8GiB }")
    report = plan_json(capsys, tmp_path, new)
    assert changes(report) == {
        "etc/hostspec/domains/web-03.xml": ("removed", "guest-restart", ["guest `web-03` removed"]),
        "etc/hostspec/domains/web-04.xml": ("added", "guest-restart", ["guest `web-04` added"]),
        "usr/libexec/hostspec/apply-domains": ("changed", "runtime", [
            "manages guest `web-04`", "undefines guest `web-03` once shut off"])}
    assert report["guests"] == {"added": ["web-04"], "removed": ["web-03"], "changed": []}
    assert report["action"] == ("run `/usr/libexec/hostspec/apply-domains` (it defines guest "
                                "`web-04`; undefines guest `web-03` once shut off)")


def test_a_setting_no_longer_set_says_the_host_keeps_it(capsys, tmp_path):
    report = plan_json(capsys, tmp_path, BASE.replace("    swap { swappiness 10 }\n", ""))
    assert changes(report) == {"etc/sysctl.d/90-hostspec.conf": (
        "removed", "runtime",
        ["`vm.swappiness` no longer set (was 10; the running host keeps it until reboot)"])}


def test_ksm_run_pinned_changes_the_unit_as_well(capsys, tmp_path):
    old = BASE.replace("ksm { run on }", "ksm { use-zero-pages on }")
    report = plan_json(capsys, tmp_path, BASE, old)
    found = changes(report)
    assert found["usr/libexec/hostspec/apply-memory"] == (
        "changed", "runtime", ["`KSM use_zero_pages` no longer set (was 1; the running host "
                               "keeps it until reboot)", "`KSM run` set to 1"])
    assert found["etc/systemd/system/hostspec-memory.service"][2] == [
        "adds `Conflicts=ksmtuned.service`"]


def test_pinning_pages_to_scan_instead_of_run_keeps_ksmtuned_stopped(capsys, tmp_path):
    old = BASE.replace("ksm { run on }", "ksm { pages-to-scan 100 }")
    found = changes(plan_json(capsys, tmp_path, BASE, old))
    assert "etc/systemd/system/hostspec-memory.service" not in found  # both conflict


def test_a_host_setting_a_domain_uses_is_named_without_guest_changes(capsys, tmp_path):
    old = BASE.replace("guest db-01 { memory 4GiB;", "guest db-01 { memory 4GiB; locked on;")
    new = old.replace("numa-nodes 2", "numa-nodes 2\n    guest-overhead 512MiB")
    report = plan_json(capsys, tmp_path, new, old)
    assert changes(report)["etc/hostspec/domains/db-01.xml"][2] == [
        "guest `db-01`: the domain XML changes (its base file, or a host setting it uses)"]


def test_text_lists_artifacts_steps_and_the_most_disruptive(capsys, tmp_path):
    new = BASE.replace("swappiness 10", "swappiness 30").replace("vpid on", "vpid off")
    status, out, _ = plan(capsys, tmp_path, new)
    assert status == 0
    lines = [line.split() for line in out.splitlines()]
    assert ["etc/sysctl.d/90-hostspec.conf", "changed", "runtime", "`vm.swappiness`", "10",
            "->", "30"] in lines
    assert "  runtime: applies at runtime: run `sysctl --system`" in out
    assert "Most disruptive step (module-reload): needs kvm_intel reloaded" in out


def test_markdown_has_a_table_and_a_bold_verdict(capsys, tmp_path):
    status, out, _ = plan(capsys, tmp_path, BASE.replace("swappiness 10", "swappiness 30"), BASE,
                          "--format", "markdown")
    assert status == 0
    assert "| path | change | takes effect | what changes |" in out
    assert "**Most disruptive step (runtime): applies at runtime" in out


def test_a_spec_with_errors_exits_1_with_its_diagnostics(capsys, tmp_path):
    status, out, err = plan(capsys, tmp_path, BASE.replace("swappiness 10", "swappiness 300"))
    assert status == 1 and out == ""
    assert "error[" in err and "new/hv-01.mem" in err


def test_an_unreadable_spec_exits_2(capsys, tmp_path):
    status = cli.main(["plan", str(tmp_path / "missing.mem"), str(tmp_path / "missing.mem")])
    assert status == 2
    assert "cannot read" in capsys.readouterr().err


def test_help_shows_an_example(capsys):
    with pytest.raises(SystemExit) as exit_:
        cli.main(["plan", "--help"])
    out = capsys.readouterr().out
    assert exit_.value.code == 0
    assert "OLD NEW" in out and "example:\n  hostspec plan " in out


def test_a_removed_script_is_not_a_step_to_run(capsys, tmp_path):
    old = BASE.replace("    ksm { run on }\n", "")
    new = old.replace("    thp { defrag madvise }\n", "").replace("    swap { swappiness 10 }\n", "")
    report = plan_json(capsys, tmp_path, new, old)
    assert changes(report)["usr/libexec/hostspec/apply-memory"][0] == "removed"
    (step,) = report["steps"]
    assert step["action"] == (
        "applies at runtime; etc/sysctl.d/90-hostspec.conf, etc/systemd/system/hostspec-memory.service, "
        "usr/libexec/hostspec/apply-memory are removed: what they set stays on the running host "
        "until reboot")
    assert "`sysctl --system`" not in step["action"] and "run `" not in step["action"]


def test_a_new_unit_is_reloaded_and_preset_before_the_script_runs(capsys, tmp_path):
    old = BASE.replace("    thp { defrag madvise }\n", "").replace("    ksm { run on }\n", "")
    report = plan_json(capsys, tmp_path, BASE, old)
    assert changes(report)["etc/systemd/system/hostspec-memory.service"][0] == "added"
    (step,) = [s for s in report["steps"] if s["takes_effect"] == "runtime"]
    assert step["action"] == ("applies at runtime: run `systemctl daemon-reload` then "
                              "`systemctl preset hostspec-memory.service` then "
                              "`/usr/libexec/hostspec/apply-memory`")


def test_nr_hugepages_waits_for_the_reboot_that_changes_the_default_size(capsys, tmp_path):
    host = "hostspec 1\nhost h {{ cpu intel; memory 64GiB; hugepages {{ {} }} }}\n"
    old = host.format("default-size 1GiB; pool 1GiB count 16")
    new = host.format("default-size 2MiB; pool 1GiB count 16; pool 2MiB count 8192 at runtime")
    found = changes(plan_json(capsys, tmp_path, new, old))
    change, level, details = found["etc/sysctl.d/90-hostspec.conf"]
    assert (change, level) == ("added", "boot") and "1GiB until the reboot makes it 2MiB" in details[-1]
    report = plan_json(capsys, tmp_path, new, old)
    runtime = [s["action"] for s in report["steps"] if s["takes_effect"] == "runtime"]
    assert runtime and "sysctl --system" not in runtime[0]
    # the same pool with an unchanged default size is an ordinary runtime change
    same = host.format("default-size 2MiB; pool 1GiB count 16; pool 2MiB count 4096 at runtime")
    assert changes(plan_json(capsys, tmp_path, new, same))["etc/sysctl.d/90-hostspec.conf"][1] == "runtime"
