"""The front end as users meet it: examples check cleanly, export round-trips
through the JSON front door to the same model, and both doors share the schema."""
from __future__ import annotations

import json
import pathlib
import subprocess
import sys

import jsonschema
import pytest

from hostspec import api
from hostspec.language.schema import load_schema

ROOT = pathlib.Path(__file__).resolve().parent.parent
EXAMPLES = sorted((ROOT / "examples").glob("*.mem"))


def hostspec(*args, cwd=None, stdin=None):
    return subprocess.run([sys.executable, "-m", "hostspec", *args], cwd=cwd or ROOT, input=stdin,
                          capture_output=True, text=True)


def test_there_are_at_least_three_examples():
    assert len(EXAMPLES) >= 3


def test_check_all_examples_exits_zero_even_strict():
    run = hostspec("check", "--strict", *map(str, EXAMPLES))
    assert run.returncode == 0, run.stderr
    assert "error" not in run.stderr


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda p: p.stem)
def test_export_validates_and_round_trips(example, tmp_path):
    run = hostspec("export", str(example))
    assert run.returncode == 0, run.stderr
    document = json.loads(run.stdout)
    jsonschema.Draft202012Validator(load_schema()).validate(document)
    exported = tmp_path / f"{example.stem}.json"
    exported.write_text(run.stdout)
    assert hostspec("check", str(exported)).returncode == 0
    from_mem, from_json = api.check(str(example)), api.check(str(exported))
    assert from_json.spec == from_mem.spec
    assert from_mem.spec is not None


def test_export_reads_stdin():
    text = (ROOT / "examples" / "lab.mem").read_text()
    run = hostspec("export", "-", stdin=text)
    assert run.returncode == 0, run.stderr
    assert json.loads(run.stdout)["host"]["name"] == "lab-01"


def test_check_reads_stdin_and_names_it():
    run = hostspec("check", "-", stdin="hostspec 1\nhost h { cpu intel; memory 4GB }\n")
    assert run.returncode == 1
    assert "<stdin>:2:28" in run.stderr


def test_json_errors_point_at_the_json_line(tmp_path):
    spec = tmp_path / "h.json"
    spec.write_text('{\n  "hostspec": 1,\n  "host": {\n    "name": "h",\n    "cpu": "intl",\n'
                    '    "memory": 4294967296\n  }\n}\n')
    run = hostspec("check", str(spec), "--format", "json")
    assert run.returncode == 1
    (diagnostic,) = [json.loads(line) for line in run.stdout.splitlines()]
    assert (diagnostic["code"], diagnostic["line"], diagnostic["column"]) == ("HS0202", 5, 12)


def test_json_duplicate_keys_are_an_error(tmp_path):
    spec = tmp_path / "h.json"
    spec.write_text('{"hostspec": 1, "host": {"name": "h", "cpu": "intel", "cpu": "amd", "memory": 1024}}')
    assert [d.code for d in api.check(str(spec)).diagnostics] == ["HS0206"]


def test_json_syntax_error_is_a_diagnostic(tmp_path):
    spec = tmp_path / "h.json"
    spec.write_text('{"hostspec": 1,, }')
    (diagnostic,) = api.check(str(spec)).diagnostics
    assert (diagnostic.code, diagnostic.span.line, diagnostic.span.column) == ("HS0102", 1, 16)


def test_all_errors_of_a_file_are_reported_in_order(tmp_path):
    spec = tmp_path / "h.mem"
    spec.write_text("hostspec 1\nhost h {\n  cpu intl\n  memory 4GB\n  reserve 8\n}\n")
    result = api.check(str(spec))
    assert [(d.code, d.span.line) for d in result.diagnostics] == [
        ("HS0202", 3), ("HS0207", 4), ("HS0208", 5)]


def test_errors_inside_an_include_show_the_chain(tmp_path):
    (tmp_path / "t.mem").write_text("hostspec 1\ntemplate t { memory 4GB }\n")
    spec = tmp_path / "h.mem"
    spec.write_text('hostspec 1\ninclude "t.mem"\nhost h { cpu intel; memory 8GiB }\n')
    run = hostspec("check", str(spec))
    assert "t.mem:2:21" in run.stderr
    assert f"included from {spec}:2:1" in run.stderr or "included from" in run.stderr


def test_include_path_allows_a_shared_directory(tmp_path):
    shared, project = tmp_path / "shared", tmp_path / "project"
    shared.mkdir()
    project.mkdir()
    (shared / "t.mem").write_text("hostspec 1\ntemplate t { memory 1GiB }\n")
    spec = project / "h.mem"
    spec.write_text('hostspec 1\ninclude "../shared/t.mem"\nhost h { cpu intel; memory 8GiB }\n'
                    "guest g from t { }\n")
    assert "HS0224" in [d.code for d in api.check(str(spec)).diagnostics]
    assert api.check(str(spec), include_paths=[str(shared)]).diagnostics == []


def test_ranges_keep_leading_zero_width(tmp_path):
    spec = tmp_path / "h.mem"
    spec.write_text("hostspec 1\nhost h { cpu intel; memory 64GiB }\nguest web-{08..10} { memory 1GiB }\n")
    names = [g.name for g in api.check(str(spec)).spec.guests]
    assert names == ["web-08", "web-09", "web-10"]


def test_templates_merge_balloon_key_by_key(tmp_path):
    spec = tmp_path / "h.mem"
    spec.write_text("hostspec 1\nhost h { cpu intel; memory 64GiB; ksm { run on } }\n"
                    "template a { memory 2GiB; balloon virtio { autodeflate on } }\n"
                    "template b from a { vcpus 3; balloon virtio { stats-period 5s } }\n"
                    "guest g from b { memory 4GiB }\n")
    (guest,) = api.check(str(spec)).spec.guests
    assert (guest.memory, guest.vcpus) == (4 * 1024 ** 3, 3)
    assert (guest.balloon.autodeflate, guest.balloon.stats_period_s) == (True, 5)


def test_switch_synonyms(tmp_path):
    spec = tmp_path / "h.mem"
    spec.write_text("hostspec 1\nhost h { cpu intel; memory 8GiB; kvm { ept yes; vpid false } }\n")
    kvm = api.check(str(spec)).spec.host.kvm
    assert (kvm.ept, kvm.vpid) == (True, False)


def test_usage_error_exits_2():
    run = hostspec("check")
    assert run.returncode == 2
    assert run.stderr.count("\n") == 1


def test_unreadable_file_exits_2_with_a_diagnostic(tmp_path):
    run = hostspec("check", str(tmp_path / "missing.mem"))
    assert run.returncode == 2
    assert "HS0902" in run.stderr


def test_no_color_unless_a_terminal_or_forced(tmp_path):
    spec = tmp_path / "h.mem"
    spec.write_text("hostspec 1\nhost h { cpu intl; memory 8GiB }\n")
    assert "\x1b[" not in hostspec("check", str(spec)).stderr
    assert "\x1b[" in hostspec("check", "--color", "always", str(spec)).stderr


def test_sarif_has_rules_and_regions(tmp_path):
    spec = tmp_path / "h.mem"
    spec.write_text("hostspec 1\nhost h { cpu intl; memory 8GiB }\n")
    sarif = json.loads(hostspec("check", "--format", "sarif", str(spec)).stdout)
    assert sarif["version"] == "2.1.0"
    run = sarif["runs"][0]
    assert run["tool"]["driver"]["rules"][0]["id"] == "HS0202"
    region = run["results"][0]["locations"][0]["physicalLocation"]["region"]
    assert (region["startLine"], region["startColumn"]) == (2, 14)


def test_control_characters_never_reach_the_terminal_raw(tmp_path):
    spec = tmp_path / "h.json"
    spec.write_text('{"hostspec": 1, "host": {"name": "a\\u001b[31mb", "cpu": "intel", "memory": 1024}}')
    run = hostspec("check", str(spec))
    assert run.returncode == 1 and "HS0213" in run.stderr
    assert "\x1b" not in run.stderr
    assert "a\\x1b[31mb" in run.stderr


def test_limits_are_shown_in_the_units_the_input_was_written_in(tmp_path):
    mem = tmp_path / "limits.mem"
    mem.write_text("hostspec 1\nhost a {\n    cpu intel\n    memory 2000000TiB\n"
                   "    ksm { sleep 4294967296s }\n    swap { swappiness 250 }\n}\n"
                   "guest g { memory 0GiB; balloon virtio { stats-period 3000000000s } }\n")
    messages = [d.message for d in api.check(str(mem)).diagnostics]
    assert messages == ["`memory` must be at most 1048576TiB, not 2000000TiB",
                        "`sleep` must be at most 4294967295ms, not 4294967296s",
                        "`swappiness` must be at most 200, not 250",
                        "`memory` must be at least 1 byte, not 0GiB",
                        "`stats-period` must be at most 2147483s, not 3000000000s"]
    document = json.loads(hostspec("export", "examples/lab.mem").stdout)
    document["host"]["memory"] = 2 ** 61
    document["host"]["ksm"] = {"sleep": 2 ** 33}
    as_json = tmp_path / "limits.json"
    as_json.write_text(json.dumps(document, indent=1))
    messages = [d.message for d in api.check(str(as_json)).diagnostics]
    assert messages == [f"`memory` must be at most {2 ** 60}, not {2 ** 61}",
                        f"`sleep` must be at most {2 ** 32 - 1}, not {2 ** 33}"]


def test_a_nul_byte_in_an_include_path_is_a_diagnostic(tmp_path):
    spec = tmp_path / "nul.mem"
    spec.write_bytes(b'hostspec 1\ninclude "a\x00b.mem"\nhost h { cpu intel; memory 16GiB }\n')
    run = hostspec("check", str(spec), "--format", "json")
    assert run.returncode == 1 and "Traceback" not in run.stderr
    (diagnostic,) = [json.loads(line) for line in run.stdout.splitlines()]
    assert (diagnostic["code"], diagnostic["line"], diagnostic["column"]) == ("HS0222", 2, 9)


@pytest.mark.parametrize("statement, key", [
    ("swap {{ swappiness 1{zeros} }}", "swappiness"),
    ("swap {{ size 1{zeros}GiB }}", "size"),
    ("ksm {{ sleep 1{zeros}ms }}", "sleep"),
    ("hugepages {{ pool 2MiB count 4 node 1{zeros} }}", "node"),
    ("overcommit {{ policy never; max-ratio 1{zeros} }}", "max-ratio"),
])
def test_numbers_thousands_of_digits_long_are_a_range_error(tmp_path, statement, key):
    spec = tmp_path / "long.mem"
    spec.write_text("hostspec 1\nhost h {\n    cpu intel\n    memory 16GiB\n    numa-nodes 2\n    "
                    + statement.format(zeros="0" * 5000) + "\n}\n")
    run = hostspec("check", str(spec))
    assert run.returncode == 1 and "Traceback" not in run.stderr, run.stderr
    assert f"error[HS0210]: `{key}` is far too large: `100000000000...(5001 digits)`" in run.stderr


def test_a_range_with_huge_bounds_is_a_range_error(tmp_path):
    spec = tmp_path / "long.mem"
    spec.write_text("hostspec 1\nhost h { cpu intel; memory 16GiB }\n"
                    "guest w-{1..1" + "0" * 5000 + "} { memory 1GiB }\n")
    run = hostspec("check", str(spec), "--format", "json")
    (diagnostic,) = [json.loads(line) for line in run.stdout.splitlines()]
    assert (diagnostic["code"], diagnostic["line"], diagnostic["column"]) == ("HS0229", 3, 7)


def test_messages_use_the_words_of_the_mem_language(tmp_path):
    spec = tmp_path / "words.mem"
    spec.write_text("hostspec 1\nhost h {\n    cpu intel\n    memory 64GiB\n"
                    "    hugepages { pool count 5 2MiB; pool 2MiB }\n}\n"
                    "guest a { memory 1GiB; backing hugepage 2MiB }\n"
                    "guest b { memory 1GiB; balloon foo }\n")
    found = [(d.code, d.message, d.hint) for d in api.check(str(spec)).diagnostics]
    assert found == [
        ("HS0209", "`pool` starts with its page size, not `count`",
         "write `pool 2MiB count 512 [node N] [at boot|runtime]`"),
        ("HS0205", "`pool` is missing `count`", "add `count N` after the page size: `pool 2MiB count 512`"),
        ("HS0202", "`backing` cannot be `hugepage`", "did you mean `hugepages`?"),
        ("HS0202", "`balloon` cannot be `foo`", "choose one of `virtio`, `none`")]
    spec.write_text("hostspec\nhost h { cpu intel; memory 16GiB }\n")
    assert [(d.code, d.message) for d in api.check(str(spec)).diagnostics] == [
        ("HS0214", "`hostspec` needs the language version")]
