"""What one process reuses between files of a fleet never changes what a file reports.

`check`/`compile` of many files in one call (one worker of `-j N`) reuses
work: guest bodies that already passed the schema, parsed included files.
A file must report exactly what it reports alone.
"""
from __future__ import annotations

import importlib.util
import json
import pathlib

from hostspec import api
from hostspec.commands import cli

REPO = pathlib.Path(__file__).resolve().parent.parent
_spec = importlib.util.spec_from_file_location("fleet_generator", REPO / "bench" / "generate.py")
generate = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(generate)

HOST = """hostspec 1

host h1 {
    cpu intel
    memory 64GiB
}
"""


def codes_at(result) -> list[tuple[str, int]]:
    return [(d.code, d.span.line if d.span else 0) for d in result.diagnostics]


def check_json(capsys, *files) -> list[str]:
    cli.main(["check", "--format", "json", *map(str, files)])
    return capsys.readouterr().out.splitlines()


def test_each_file_reports_what_it_reports_alone(tmp_path, capsys):
    files = generate.write_fleet(tmp_path, 12, 20)
    edits = {3: ("memory 8GiB", "memory 0GiB"), 5: ("vcpus 4", "vcpus 0"),
             8: ("size 16GiB", "size 16GB"), 10: ('include "templates/fleet.mem"', 'include "nope.mem"')}
    for number, (old, new) in edits.items():
        files[number].write_text(files[number].read_text().replace(old, new))
    alone = [line for path in files for line in check_json(capsys, path)]
    together = check_json(capsys, *files)
    assert together == alone
    assert {pathlib.Path(json.loads(line)["file"]).name for line in together} == {
        files[number].name for number in edits}


def test_the_same_bad_body_is_reported_at_every_guest(tmp_path):
    path = tmp_path / "h.mem"
    path.write_text(HOST + "\nguest a {\n    memory 0GiB\n}\n\nguest b {\n    memory 0GiB\n}\n")
    first, again = api.check(str(path)), api.check(str(path))
    assert codes_at(first) == codes_at(again) == [("HS0204", 9), ("HS0204", 13)]


def test_a_body_that_passed_still_fails_with_a_bad_name(tmp_path):
    good, bad = tmp_path / "good.mem", tmp_path / "bad.mem"
    good.write_text(HOST + "\nguest ok {\n    memory 4GiB\n}\n")
    bad.write_text(HOST + "\nguest \"..\" {\n    memory 4GiB\n}\n")
    assert api.check(str(good)).diagnostics == []
    assert [d.code for d in api.check(str(bad)).diagnostics] == ["HS0213"]


def test_json_values_of_another_type_are_not_taken_for_a_valid_body(tmp_path):
    document = {"hostspec": 1, "host": {"name": "h1", "cpu": "intel", "memory": 68719476736},
                "guests": [{"name": "g", "memory": 4294967296, "share-pages": True}]}
    good, bad = tmp_path / "good.json", tmp_path / "bad.json"
    good.write_text(json.dumps(document))
    document["guests"][0]["share-pages"] = 1  # equal to True in Python, not in the schema
    bad.write_text(json.dumps(document))
    assert api.check(str(good)).diagnostics == []
    assert [d.code for d in api.check(str(bad)).diagnostics] == ["HS0203"]


def test_an_included_file_shared_by_hosts_reports_in_each(tmp_path, capsys):
    """Included files are parsed once per process; their problems are still each host's."""
    (tmp_path / "shared.mem").write_text(
        "hostspec 1\n\ntemplate small {\n    memory 4GB\n}\n")
    (tmp_path / "broken.mem").write_text("hostspec 1\n\ntemplate odd {\n    memory 4GiB\n")
    hosts = []
    for number, include in enumerate(["shared.mem", "shared.mem", "broken.mem", "broken.mem"]):
        path = tmp_path / f"h{number}.mem"
        path.write_text(HOST.replace("h1", f"h{number}") + f'\ninclude "{include}"\n\n'
                        "guest g from small {\n}\n".replace("small", "small" if number < 2 else "odd"))
        hosts.append(path)
    alone = [line for path in hosts for line in check_json(capsys, path)]
    together = check_json(capsys, *hosts)
    assert together == alone
    found = [json.loads(line) for line in together]
    assert [(d["code"], pathlib.Path(d["file"]).name) for d in found if d["code"] != "HS0220"] == [
        ("HS0207", "shared.mem"), ("HS0207", "shared.mem"), ("HS0104", "broken.mem"), ("HS0104", "broken.mem")]
