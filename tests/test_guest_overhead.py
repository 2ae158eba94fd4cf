"""`guest-overhead` per guest and per template: the capacity checks, the hard limit
of a locked guest, the JSON form, fmt and explain all count each guest's own value."""
from __future__ import annotations

import json
import pathlib

from lxml import etree

from hostspec import api
from hostspec.commands import cli
from hostspec.model import GiB, MiB

HOST = "hostspec 1\nhost h {\n    cpu intel\n    memory 16GiB\n    reserve 2GiB\n}\n"
TEMPLATED = HOST + ("template db {\n    guest-overhead 1GiB\n}\n"
                    "guest db-01 from db {\n    memory 4GiB\n    locked on\n    balloon none\n}\n"
                    "guest web {\n    memory 2GiB\n    guest-overhead 128MiB\n}\n"
                    "guest plain {\n    memory 2GiB\n}\n")


def checked(tmp_path: pathlib.Path, text: str, name: str = "h.mem") -> api.Result:
    spec = tmp_path / name
    spec.write_text(text)
    return api.check(str(spec))


def test_each_guest_counts_its_own_overhead_or_the_hosts(tmp_path):
    result = checked(tmp_path, TEMPLATED)
    assert result.diagnostics == []
    spec = result.spec
    assert [spec.overhead(g) for g in spec.guests] == [GiB, 128 * MiB, 256 * MiB]
    from hostspec.checks.demand import analyse

    capacity = analyse(spec)
    assert capacity.overhead_bytes == GiB + 384 * MiB
    assert capacity.ordinary == 16 * GiB - 2 * GiB - GiB - 384 * MiB


def test_a_large_per_guest_overhead_uses_up_ordinary_memory(tmp_path):
    guests = "".join(f"guest g{i} {{\n    memory 1GiB\n}}\n" for i in range(4))
    assert checked(tmp_path, HOST + guests).diagnostics == []  # 4 x 256MiB fits in 14GiB
    heavy = guests.replace("memory 1GiB\n", "memory 1GiB\n    guest-overhead 4GiB\n")
    found = checked(tmp_path, HOST + heavy).diagnostics
    assert [d.code for d in found] == ["HS0323"]
    assert "16GiB over 4 guests (guest overhead)" in found[0].message


def test_the_hard_limit_of_a_locked_guest_is_memory_plus_its_own_overhead(tmp_path):
    spec = tmp_path / "h.mem"
    spec.write_text(TEMPLATED)
    assert cli.main(["compile", "-q", str(spec), "--out", str(tmp_path / "out")]) == 0
    domain = etree.parse(str(tmp_path / "out/h/etc/hostspec/domains/db-01.xml"))
    assert int(domain.findtext("memtune/hard_limit")) == (4 * GiB + GiB) // 1024


def test_a_locked_guest_with_its_own_overhead_of_zero_is_hs0407(tmp_path):
    text = HOST + "guest db {\n    memory 4GiB\n    locked on\n    balloon none\n    guest-overhead 0KiB\n}\n"
    spec = tmp_path / "h.mem"
    spec.write_text(text)
    result = api.check(str(spec))
    assert [(d.code, d.span.line) for d in result.diagnostics] == [("HS0407", 9)]
    assert "its `guest-overhead` is 0" in result.diagnostics[0].message
    # the other way round: a host default of 0, a guest that sets its own
    rescued = text.replace("reserve 2GiB\n", "reserve 2GiB\n    guest-overhead 0KiB\n") \
                  .replace("guest-overhead 0KiB\n}\n", "guest-overhead 512MiB\n}\n")
    assert checked(tmp_path, rescued).diagnostics == []


def test_json_form_export_and_fmt(tmp_path, capsys):
    spec = tmp_path / "h.mem"
    spec.write_text(TEMPLATED)
    assert cli.main(["export", str(spec)]) == 0
    document = json.loads(capsys.readouterr().out)
    assert [g.get("guest-overhead") for g in document["guests"]] == [GiB, 128 * MiB, None]
    assert checked(tmp_path, json.dumps(document), "h.json").spec == api.check(str(spec)).spec
    document["guests"][1]["guest-overhead"] = -1
    assert [d.code for d in checked(tmp_path, json.dumps(document), "h.json").diagnostics] == ["HS0204"]
    assert cli.main(["fmt", str(spec)]) == 0
    assert spec.read_text().count("    guest-overhead ") == 2  # the key is kept where it was
    assert cli.main(["fmt", "--check", str(spec)]) == 0
    assert api.check(str(spec)).spec == checked(tmp_path, TEMPLATED, "again.mem").spec
    bad = checked(tmp_path, HOST + "guest g {\n    memory 1GiB\n    guest-overhead 1GB\n}\n")
    assert [d.code for d in bad.diagnostics] == ["HS0207"]


def test_explain_names_the_total(tmp_path, capsys):
    spec = tmp_path / "h.mem"
    spec.write_text(TEMPLATED)
    assert cli.main(["explain", str(spec)]) == 0
    assert "guest overhead (1.375GiB over 3 guests)" in capsys.readouterr().out
    assert cli.main(["explain", "--format", "json", str(spec)]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["capacity"]["overhead_total"] == GiB + 384 * MiB
