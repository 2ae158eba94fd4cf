"""The SARIF hostspec writes is valid SARIF 2.1.0, and its findings keep their
fingerprints when lines move (so a code-scanning alert stays one alert)."""
from __future__ import annotations

import json
import pathlib
import subprocess
import sys

import jsonschema

ROOT = pathlib.Path(__file__).resolve().parent.parent
ERRORS = ROOT / "tests" / "errors"
SCHEMA = json.loads((ROOT / "tests" / "sarif" / "sarif-schema-2.1.0.json").read_text())


def sarif(*files: str, cwd: pathlib.Path = ERRORS) -> dict:
    run = subprocess.run([sys.executable, "-m", "hostspec", "check", "--format", "sarif", *files],
                         cwd=cwd, capture_output=True, text=True)
    assert run.returncode in (0, 1, 2), run.stderr
    return json.loads(run.stdout)


def test_the_sarif_of_the_error_corpus_validates_against_the_sarif_schema():
    files = sorted(p.name for p in ERRORS.glob("*.mem"))
    document = sarif(*files)
    jsonschema.Draft4Validator.check_schema(SCHEMA)
    errors = sorted(jsonschema.Draft4Validator(SCHEMA).iter_errors(document), key=str)
    assert not errors, "\n".join(f"{list(e.absolute_path)}: {e.message}" for e in errors[:10])
    results = document["runs"][0]["results"]
    assert len(results) >= len(files) - 1
    assert {r["ruleId"] for r in results} >= {f[:6] for f in files} - {"HS0902"}
    fingerprints = [r["partialFingerprints"]["hostspecFinding/v1"] for r in results]
    assert len(set(fingerprints)) == len(fingerprints)


def test_the_schema_copy_rejects_what_sarif_forbids():
    """The copy is the real schema, not a permissive stand-in."""
    document = sarif("HS0201-unknown-key.mem")
    jsonschema.validate(document, SCHEMA)
    document["runs"][0]["results"][0]["level"] = "fatal"
    assert list(jsonschema.Draft4Validator(SCHEMA).iter_errors(document))


def test_fingerprints_survive_lines_moving_and_change_with_the_finding(tmp_path):
    spec = tmp_path / "h.mem"
    body = "host h {\n    cpu intl\n    memory 8GiB\n}\n"
    spec.write_text("hostspec 1\n" + body)
    before = sarif("h.mem", cwd=tmp_path)["runs"][0]["results"]
    spec.write_text("hostspec 1\n\n# a comment pushes everything down\n\n" + body)
    after = sarif("h.mem", cwd=tmp_path)["runs"][0]["results"]
    assert before[0]["locations"] != after[0]["locations"]
    assert before[0]["partialFingerprints"] == after[0]["partialFingerprints"]
    spec.write_text("hostspec 1\n" + body.replace("intl", "intle"))
    changed = sarif("h.mem", cwd=tmp_path)["runs"][0]["results"]
    assert changed[0]["partialFingerprints"] != before[0]["partialFingerprints"]
