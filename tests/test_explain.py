"""`hostspec explain`: text, a GitHub markdown comment, and JSON that meets its schema."""
from __future__ import annotations

import json
import pathlib
import re

import pytest

from hostspec.commands import cli
from hostspec.language import schema

ROOT = pathlib.Path(__file__).resolve().parent.parent
TWO_NODE = ROOT / "examples" / "hv-intel-2node.mem"
SHORT = ROOT / "tests" / "errors" / "HS0301-hugepage-demand-exceeds-pool.mem"

CLEAN = """hostspec 1
host small {
    cpu amd
    memory 64GiB
    numa-nodes 2
    kvm { npt on }
    hugepages {
        pool 2MiB count 1024 node 0,1
    }
    ksm { run on }
    overcommit { max-ratio 1.5 }
}
guest web-{1..3} { memory 16GiB }
guest db { memory 2GiB; backing hugepages 2MiB node 1; balloon none }
"""


def warned_copy(tmp_path: pathlib.Path) -> pathlib.Path:
    """The two-node example with one warning: `ratio` without `policy never` (HS0320)."""
    text = TWO_NODE.read_text().replace("policy heuristic\n", "policy heuristic\n        ratio 50\n")
    copy = tmp_path / TWO_NODE.name
    copy.write_text(text)
    return copy


def explain(capsys, *argv) -> tuple[int, str, str]:
    status = cli.main(["explain", *map(str, argv)])
    out, err = capsys.readouterr()
    return status, out, err


def markdown_renderer():
    try:
        from markdown_it import MarkdownIt
    except ImportError:  # a missing test dependency must fail, never skip
        pytest.fail("markdown-it-py is needed to render the markdown form: pip install markdown-it-py")
    return MarkdownIt("commonmark").enable("table")


def test_two_node_text_shows_each_pool_per_node_and_the_ratio(capsys):
    status, out, err = explain(capsys, TWO_NODE)
    assert status == 0
    assert re.search(r"^  1GiB\s+0\s+96\s+96\s+0\s+db-01 64, analytics-01 32$", out, re.M)
    assert re.search(r"^  1GiB\s+1\s+32\s+0\s+32\s+-$", out, re.M)
    assert re.search(r"^  2MiB\s+1\s+4096\s+4096\s+0\s+cache-1 1024, cache-2 1024", out, re.M)
    assert re.search(r"^  ordinary memory\s+229GiB$", out, re.M)  # 384 - 8 - 144 - 12 x 0.25
    assert re.search(r"^  overcommit ratio\s+0\.31 \(limit 1\.0\)$", out, re.M)  # 72 / 229
    assert "KVM (kvm_intel): EPT on, VPID on, nested off" in out
    assert err == ""


def test_diagnostics_go_to_stderr_only(capsys, tmp_path):
    status, out, err = explain(capsys, warned_copy(tmp_path))
    assert status == 0
    assert "HS0320" in err and "HS0320" not in out


def test_artifacts_and_the_most_disruptive_step(capsys):
    _, out, _ = explain(capsys, TWO_NODE)
    assert re.search(r"^  etc/modprobe\.d/hostspec-kvm\.conf\s+module-reload\s+\S", out, re.M)
    assert re.search(r"^  etc/hostspec/domains/db-01\.xml\s+guest-restart\s+", out, re.M)
    assert "Most disruptive step (boot): this change needs a reboot" in out


def test_strict_turns_the_warning_into_failure(capsys, tmp_path):
    status, out, _ = explain(capsys, "--strict", warned_copy(tmp_path))
    assert status == 1 and "Capacity" in out


def test_markdown_renders_as_github_tables(capsys):
    status, out, _ = explain(capsys, "--format", "markdown", TWO_NODE)
    assert status == 0
    html = markdown_renderer().render(out)
    assert html.count("<table>") == 4  # budget, pools, guests, artifacts
    assert "<h3>Capacity</h3>" in html
    row = re.search(r"<tr>\s*<td>1GiB</td>\s*<td>0</td>\s*<td>96</td>\s*<td>96</td>\s*"
                    r"<td>0</td>\s*<td>db-01 64, analytics-01 32</td>\s*</tr>", html)
    assert row is not None
    assert re.search(r"<td>overcommit ratio</td>\s*<td>0\.31 \(limit 1\.0\)</td>", html)
    assert "<strong>Most disruptive step (boot)" in html


def test_json_validates_against_the_shipped_schema(capsys):
    status, out, _ = explain(capsys, "--format", "json", TWO_NODE)
    data = json.loads(out)
    assert status == 0
    assert list(schema.validator("explain-v1.schema.json").iter_errors(data)) == []
    capacity = data["capacity"]
    assert capacity["ordinary"] == 229 * 1024 ** 3 and capacity["ratio"] == round(72 / 229, 4)
    one_g = next(s for s in capacity["hugepages"] if s["size"] == 1024 ** 3)
    assert [(n["node"], n["reserved"], n["used"]) for n in one_g["nodes"]] == [(0, 96, 96), (1, 32, 0)]
    assert one_g["split"] == [{"guest": "db-01", "nodes": [{"node": 0, "pages": 64}]},
                              {"guest": "analytics-01", "nodes": [{"node": 0, "pages": 32}]}]
    assert data["most_disruptive"] == "boot"


def test_json_of_a_spec_that_does_not_fit(capsys):
    status, out, err = explain(capsys, "--format", "json", SHORT)
    data = json.loads(out)
    assert status == 1 and "HS0301" in err
    assert list(schema.validator("explain-v1.schema.json").iter_errors(data)) == []
    assert data["artifacts"] is None and data["most_disruptive"] is None
    shortfalls = [(size["size"], s["nodes"], s["short"], s["guests"])
                  for size in data["capacity"]["hugepages"] for s in size["shortfalls"]]
    assert shortfalls == [(2 * 1024 ** 2, [0, 1], 1, ["web-1", "web-2", "web-3"]),
                          (1024 ** 3, [0], 32, ["db-01"])]


def test_text_of_a_spec_that_does_not_fit_names_the_shortfall(capsys):
    status, out, _ = explain(capsys, SHORT)
    assert status == 1
    assert ("does not fit: guest `db-01` needs 64 pages of 1GiB on node 0, 32 reserved "
            "(32 short)") in out
    assert "not shown: the spec has errors" in out


def test_a_clean_amd_host(tmp_path, capsys):
    spec = tmp_path / "small.mem"
    spec.write_text(CLEAN)
    status, out, err = explain(capsys, spec)
    assert (status, err) == (0, "")
    # 64 - 2 - 4 (pools) - 4 x 0.25 = 57GiB for 48GiB of guests
    assert re.search(r"^  overcommit ratio\s+0\.84 \(limit 1\.5\)$", out, re.M)
    assert re.search(r"^  2MiB\s+1\s+1024\s+1024\s+0\s+db 1024$", out, re.M)
    assert "KVM (kvm_amd): NPT on" in out


def test_works_without_backends(tmp_path, capsys, monkeypatch):
    import hostspec.backends as backends
    monkeypatch.delattr(backends, "build_artifacts")
    spec = tmp_path / "small.mem"
    spec.write_text(CLEAN)
    status, out, _ = explain(capsys, spec)
    assert status == 0 and "not shown: this installation has no backends" in out


def test_other_commands_keep_their_own_format_choices(capsys):
    assert cli.main(["check", "--format", "markdown", str(TWO_NODE)]) == 2
    assert cli.main(["explain", "--format", "sarif", str(TWO_NODE)]) == 2
    assert "invalid choice" in capsys.readouterr().err


def test_unreadable_file_is_exit_2(tmp_path, capsys):
    status, out, err = explain(capsys, tmp_path / "absent.mem")
    assert status == 2 and out == "" and "HS0902" in err  # unreadable input: 2


def test_backend_errors_fail_and_hide_the_artifacts(tmp_path, capsys):
    spec = tmp_path / "locked.mem"
    spec.write_text("hostspec 1\nhost h { cpu intel; memory 64GiB; guest-overhead 0KiB }\n"
                    "guest db { memory 8GiB; locked on; balloon none }\n")
    status, out, err = explain(capsys, spec)
    assert status == 1 and "HS0407" in err
    assert "not shown: the spec has errors" in out  # check finds what compile would refuse
