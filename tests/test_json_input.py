"""The JSON front door reads what the `.mem` one reads: `10.0` and `1e1` are the
whole number 10 and compile exactly like `10`, a fraction is still refused where
a whole number is required, and a guest name used twice is an error."""
from __future__ import annotations

import json
import pathlib
import subprocess
import sys

import pytest

from hostspec import api

ROOT = pathlib.Path(__file__).resolve().parent.parent

# Whole numbers written with a fraction or an exponent, as other tools write them.
WHOLE_AS_FLOAT = [('"numa-nodes": 1', '"numa-nodes": 1.0'), ('"swappiness": 10', '"swappiness": 10.0'),
                  ('"ratio": 50', '"ratio": 50.0'), ('"vcpus": 2', '"vcpus": 2.0'),
                  ('"count": 1024', '"count": 1024.0'), ('"stats-period": 10000', '"stats-period": 1.0e4'),
                  ('"memory": 34359738368', '"memory": 3.4359738368e10')]


def hostspec(*args):
    return subprocess.run([sys.executable, "-m", "hostspec", *map(str, args)], cwd=ROOT,
                          capture_output=True, text=True)


@pytest.fixture(scope="module")
def lab_text() -> str:
    """examples/lab.mem exported, with a whole number in every key the fix is about."""
    document = json.loads(hostspec("export", "examples/lab.mem").stdout)
    document["host"].update({"numa-nodes": 1, "swap": {"swappiness": 10},
                             "overcommit": {"policy": "never", "ratio": 50, "max-ratio": 1.5}})
    document["guests"][0].update({"vcpus": 2, "balloon": {"model": "virtio", "stats-period": 10000}})
    return json.dumps(document, indent=2) + "\n"


def write(tmp_path: pathlib.Path, folder: str, text: str) -> pathlib.Path:
    (tmp_path / folder).mkdir()
    spec = tmp_path / folder / "h.json"
    spec.write_text(text)
    return spec


def rewrite(text: str, old: str, new: str) -> str:
    assert old in text, old
    return text.replace(old, new)


def artifacts(out: pathlib.Path) -> dict:
    """Every file of a compiled tree, less the lines naming the source's hash."""
    return {path.relative_to(out): [line for line in path.read_text().splitlines() if "sha256" not in line]
            for path in sorted(out.rglob("*")) if path.is_file()}


def test_whole_numbers_written_as_floats_compile_like_integers(tmp_path, lab_text):
    as_floats = lab_text
    for old, new in WHOLE_AS_FLOAT:
        as_floats = rewrite(as_floats, old, new)
    whole, floats = write(tmp_path, "whole", lab_text), write(tmp_path, "floats", as_floats)
    for spec, out in ((whole, tmp_path / "out-whole"), (floats, tmp_path / "out-floats")):
        run = hostspec("compile", spec, "--out", out)
        assert run.returncode == 0, run.stderr
    expected = artifacts(tmp_path / "out-whole")
    assert artifacts(tmp_path / "out-floats") == expected
    assert "vm.swappiness = 10" in expected[pathlib.Path("lab-01/etc/sysctl.d/90-hostspec.conf")]


@pytest.mark.parametrize("old, new", WHOLE_AS_FLOAT, ids=[new for _, new in WHOLE_AS_FLOAT])
def test_each_whole_number_as_a_float_reads_as_an_int(tmp_path, lab_text, old, new):
    whole = api.check(str(write(tmp_path, "whole", lab_text)))
    as_float = api.check(str(write(tmp_path, "float", rewrite(lab_text, old, new))))
    assert as_float.diagnostics == whole.diagnostics == []
    assert repr(as_float.spec) == repr(whole.spec)  # repr tells 10 from 10.0


def test_a_fraction_stays_a_fraction_where_one_is_allowed(tmp_path, lab_text):
    result = api.check(str(write(tmp_path, "h", rewrite(lab_text, '"max-ratio": 1.5', '"max-ratio": 2.25'))))
    assert result.diagnostics == []
    assert result.spec.host.overcommit.max_ratio == 2.25


@pytest.mark.parametrize("fraction", ["10.5", "10.0000000000000001", "1e-400"])
def test_a_fraction_where_a_whole_number_is_required_is_an_error(tmp_path, lab_text, fraction):
    spec = write(tmp_path, "h", rewrite(lab_text, '"swappiness": 10', f'"swappiness": {fraction}'))
    run = hostspec("check", spec, "--format", "json")
    assert run.returncode == 1, run.stderr
    (diagnostic,) = [json.loads(line) for line in run.stdout.splitlines()]
    line = lab_text[:lab_text.index('"swappiness"')].count("\n") + 1
    assert (diagnostic["code"], diagnostic["line"], diagnostic["column"]) == ("HS0203", line, 21)
    assert diagnostic["message"].startswith("`swappiness` expects a whole number")


@pytest.mark.parametrize("huge", ["1e300", "1.5e300", "1e999999", "1" + "0" * 5000],
                         ids=["1e300", "1.5e300", "1e999999", "5001-digits"])
def test_huge_numbers_are_out_of_range_not_a_crash(tmp_path, lab_text, huge):
    text = rewrite(rewrite(lab_text, '"swappiness": 10', f'"swappiness": {huge}'),
                   '"memory": 34359738368', f'"memory": {huge}')
    run = hostspec("check", write(tmp_path, "h", text), "--format", "json")
    assert run.returncode == 1 and "Traceback" not in run.stderr, run.stderr
    codes = {(d["code"], d["message"].split("`")[1]) for d in map(json.loads, run.stdout.splitlines())}
    assert {("HS0210", "swappiness"), ("HS0210", "memory")} <= codes


DUPLICATE = """{
  "hostspec": 1,
  "host": {"name": "h", "cpu": "intel", "memory": 17179869184},
  "guests": [
    {"name": "g", "memory": 1073741824},
    {"name": "web", "memory": 1073741824},
    {"name": "g", "memory": 2147483648, "vcpus": 4}
  ]
}
"""


def test_a_guest_name_used_twice_is_an_error_at_the_second_name(tmp_path):
    spec = write(tmp_path, "h", DUPLICATE)
    run = hostspec("check", spec, "--format", "json")
    assert run.returncode == 1
    (diagnostic,) = [json.loads(line) for line in run.stdout.splitlines()]
    assert (diagnostic["code"], diagnostic["line"], diagnostic["column"]) == ("HS0218", 7, 14)
    assert diagnostic["message"] == "guest `g` is declared twice"
    assert diagnostic["hint"] == "rename one of them"
    (first,) = diagnostic["related"]
    assert (first["message"], first["line"], first["column"]) == ("first declared here", 5, 14)


def test_a_guest_name_used_twice_compiles_nothing(tmp_path):
    out = tmp_path / "out"
    run = hostspec("compile", write(tmp_path, "h", DUPLICATE), "--out", out)
    assert run.returncode == 1 and "HS0218" in run.stderr
    assert not out.exists() or not any(out.rglob("*.xml"))


def test_distinct_guest_names_are_fine(tmp_path):
    distinct = DUPLICATE.replace('{"name": "g", "memory": 2', '{"name": "g2", "memory": 2')
    result = api.check(str(write(tmp_path, "h", distinct)))
    assert result.diagnostics == []
    assert [guest.name for guest in result.spec.guests] == ["g", "web", "g2"]
