"""Guest names equal but for case (HS0232) and node sets with repeats (HS0233): warnings
with every span involved, from `.mem` and JSON input alike."""
from __future__ import annotations

import json
import pathlib

from hostspec import api
from hostspec.commands import cli
from hostspec.diagnostics import Severity

HOST = "hostspec 1\nhost h {\n    cpu intel\n    memory 64GiB\n    numa-nodes 2\n}\n"


def diagnostics(tmp_path: pathlib.Path, text: str, name: str = "h.mem"):
    spec = tmp_path / name
    spec.write_text(text)
    return api.check(str(spec)).diagnostics


def test_names_differing_in_case_show_both_spans(tmp_path):
    (found,) = diagnostics(tmp_path, HOST + "guest Web { memory 1GiB }\nguest web { memory 1GiB }\n")
    assert (found.code, found.severity) == ("HS0232", Severity.WARNING)
    assert (found.span.line, found.span.text) == (8, "web")
    assert [(label.span.line, label.span.text) for label in found.labels] == [(7, "Web")]
    assert "case-insensitive" in found.hint


def test_names_differing_in_case_in_json(tmp_path):
    document = {"hostspec": 1, "host": {"name": "h", "cpu": "intel", "memory": 64 << 30},
                "guests": [{"name": "Web", "memory": 1 << 30}, {"name": "db", "memory": 1 << 30},
                           {"name": "web", "memory": 1 << 30}]}
    (found,) = diagnostics(tmp_path, json.dumps(document, indent=1), "h.json")
    assert found.code == "HS0232" and found.span.text == '"web"'
    assert [label.span.text for label in found.labels] == ['"Web"']


def test_the_warning_fails_strict_only(tmp_path, capsys):
    spec = tmp_path / "h.mem"
    spec.write_text(HOST + "guest Web { memory 1GiB }\nguest web { memory 1GiB }\n")
    assert cli.main(["check", str(spec)]) == 0
    assert cli.main(["check", "--strict", str(spec)]) == 1
    assert "warning[HS0232]" in capsys.readouterr().err


def test_a_node_set_with_repeats_is_a_warning_and_means_the_set(tmp_path):
    text = HOST.replace("numa-nodes 2\n", "numa-nodes 2\n    hugepages { pool 2MiB count 2048 node 0,0,1-1 }\n")
    text += "guest g { memory 1GiB; backing hugepages 2MiB node 1,1; balloon none }\n"
    spec = tmp_path / "h.mem"
    spec.write_text(text)
    result = api.check(str(spec))
    assert [(d.code, d.severity, d.span.text) for d in result.diagnostics] == [
        ("HS0233", Severity.WARNING, "0,0,1-1"), ("HS0233", Severity.WARNING, "1,1")]
    assert result.diagnostics[0].hint.startswith("write `0,1`")
    assert result.document["host"]["hugepages"]["pools"][0]["nodes"] == [0, 1]
    assert result.document["guests"][0]["backing"]["nodes"] == [1]


def test_ranges_that_do_not_repeat_are_quiet(tmp_path):
    text = HOST.replace("numa-nodes 2\n", "numa-nodes 4\n    hugepages { pool 2MiB count 2048 node 0-1,2,3-3 }\n")
    assert diagnostics(tmp_path, text) == []
