"""A misspelt key: its did-you-mean is the one error, not "missing `memory`" before it."""
from __future__ import annotations

import json
import pathlib

from hostspec import api
from hostspec.commands import cli

HOST = "hostspec 1\nhost h {\n    cpu intel\n    memory 64GiB\n}\n"


def check(tmp_path: pathlib.Path, text: str, name: str = "h.mem") -> list[tuple[str, str, str]]:
    spec = tmp_path / name
    spec.write_text(text)
    return [(d.code, d.message, d.hint or "") for d in api.check(str(spec)).diagnostics]


def test_a_typo_in_a_guest_is_one_did_you_mean(tmp_path, capsys):
    found = check(tmp_path, HOST + "guest g {\n    vcpus 2\n    memroy 4GiB\n}\n")
    assert found == [("HS0201", "unknown key `memroy`", "did you mean `memory`?")]
    assert cli.main(["check", str(tmp_path / "h.mem")]) == 1
    assert capsys.readouterr().err.startswith("error[HS0201]: unknown key `memroy`")


def test_a_typo_in_the_host_and_in_a_template(tmp_path):
    text = ("hostspec 1\nhost h {\n    cpu intel\n    memroy 64GiB\n}\n"
            "template t {\n    vcpus 2\n    memroy 1GiB\n}\nguest u from t {\n}\n")
    assert [code for code, *_ in check(tmp_path, text)] == ["HS0201", "HS0201"]


def test_the_typo_does_not_hide_the_real_key(tmp_path):
    for body in ("    memroy 2GiB\n    memory 4GiB\n", "    memory 4GiB\n    memroy 2GiB\n"):
        spec = tmp_path / "h.mem"
        spec.write_text(HOST + "guest g {\n" + body + "}\n")
        result = api.check(str(spec))
        assert [d.code for d in result.diagnostics] == ["HS0201"]
        assert result.document["guests"][0]["memory"] == 4 << 30
        assert result.index.value(("guests", 0, "memory")).text == "4GiB"


def test_a_typo_that_means_another_key_leaves_the_missing_key(tmp_path):
    found = check(tmp_path, HOST + "guest g {\n    vcpu 2\n}\n")
    assert [(code, hint) for code, _, hint in found] == [
        ("HS0205", "add `memory ...` to the block"), ("HS0201", "did you mean `vcpus`?")]


def test_json_input_the_same(tmp_path):
    document = {"hostspec": 1, "host": {"name": "h", "cpu": "intel", "memroy": 64 << 30},
                "guests": [{"name": "g", "memroy": 1 << 30}, {"name": "k", "vcpu": 2}]}
    found = check(tmp_path, json.dumps(document, indent=1), "h.json")
    assert sorted((code, hint) for code, _, hint in found) == sorted([
        ("HS0201", "did you mean `memory`?"), ("HS0201", "did you mean `memory`?"),
        ("HS0205", "add `memory ...` to the block"), ("HS0201", "did you mean `vcpus`?")])
    assert [message for _, message, _ in found if "missing" in message] == ["guest `k` is missing `memory`"]
