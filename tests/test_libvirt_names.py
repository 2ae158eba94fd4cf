"""Names in domain XML: every allowed character comes through, nothing else gets in."""
from __future__ import annotations

import json
import pathlib
import string
import sys

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from lxml import etree

sys.path.insert(0, str(pathlib.Path(__file__).with_name("libvirt")))
from domaintools import (GiB, assert_schema_valid, check_with_libvirt, context,  # noqa: E402
                         spec_of)

from hostspec import api  # noqa: E402
from hostspec.commands.compile import compile_file  # noqa: E402
from domaintools import domains  # noqa: E402  (checks, then the backend, as compile runs them)

FIRST = string.ascii_letters + string.digits
REST = FIRST + "_.-"


@pytest.mark.parametrize("name", [
    "a", "7", "Z" * 63, "web_01.prod-eu", "0-._", "A.b-C_d.9", "x" + REST[:62]])
def test_every_allowed_character_reaches_libvirt_unchanged(name, tmp_path):
    artifacts, problems = domains(spec_of([{"name": name, "memory": GiB}]), context(tmp_path))
    assert problems == []
    (artifact,) = artifacts
    assert artifact.path == f"etc/hostspec/domains/{name}.xml"
    stored = check_with_libvirt(artifact.data, name, tmp_path)
    assert stored.findtext("name") == name


HOSTILE_NAMES = ["a<b", "a>b", "a&b", "a'b", 'a"b', "a\x01b", "a\nb", "a]]>b", "a&amp;b",
                 "<domain>", "a b", "a/b", "..", ".hidden", "-x", "a" * 64, "é"]


@pytest.mark.parametrize("where", ["guest", "host"])
@pytest.mark.parametrize("name", HOSTILE_NAMES)
def test_json_front_door_refuses_names_outside_the_rule(name, where, tmp_path):
    guest = {"name": name if where == "guest" else "ok", "memory": GiB}
    host = {"name": name if where == "host" else "hv", "cpu": "intel", "memory": 64 * GiB}
    path = tmp_path / "host.json"
    path.write_text(json.dumps({"hostspec": 1, "host": host, "guests": [guest]}))
    result = api.check(str(path))
    assert result.spec is None
    assert [d.code for d in result.diagnostics] == ["HS0213"]
    assert compile_file(str(path)).tree is None  # no artifacts at all


NAMES = st.builds(lambda first, rest: first + rest, st.sampled_from(FIRST),
                  st.text(alphabet=REST, max_size=62))


@settings(derandomize=True, max_examples=200, deadline=None)
@given(name=NAMES, host=NAMES)
def test_any_allowed_name_parses_back_to_itself(name, host):
    spec = spec_of([{"name": name, "memory": GiB, "balloon": {"model": "none"}}], name=host)
    artifacts, problems = domains(spec, context(pathlib.Path(".")))
    assert problems == []
    root = etree.fromstring(artifacts[0].data)
    assert root.findtext("name") == name
    assert artifacts[0].path == f"etc/hostspec/domains/{name}.xml"
    assert_schema_valid(artifacts[0].data)
