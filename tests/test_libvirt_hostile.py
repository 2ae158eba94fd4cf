"""Hostile `base` files: each is one diagnostic at the `base` line, and nothing leaks.

The end-to-end cases run the real `hostspec compile` command on a `.mem` file
and look at everything it prints and writes.
"""
from __future__ import annotations

import os
import pathlib
import subprocess
import sys

import pytest

sys.path.insert(0, str(pathlib.Path(__file__).with_name("libvirt")))
from domaintools import GiB, context, spec_of  # noqa: E402

from hostspec.checks.bases import MAX_BASE_BYTES  # noqa: E402
from domaintools import domains  # noqa: E402  (checks, then the backend, as compile runs them)

REPO = pathlib.Path(__file__).resolve().parent.parent
SECRET = "hostspec-test-secret-7f3c9a1e"
DOMAIN_BODY = "<name>vm</name><vcpu>1</vcpu><os><type arch='x86_64'>hvm</type></os>"

SPEC = """hostspec 1

host hv {
    cpu intel
    memory 64GiB
}

guest vm {
    memory 2GiB
    base "base.xml"
}
"""
BASE_LINE = 10


def _hostile(tmp_path: pathlib.Path) -> dict[str, tuple[str, bytes]]:
    """Each hostile base: the code it must give, and its bytes."""
    secret = tmp_path / "secret.txt"
    secret.write_text(SECRET + "\n")
    laughs = "".join(f'<!ENTITY l{i} "{f"&l{i - 1};" * 10}">' for i in range(1, 10))
    return {
        "external-entity": ("HS0403", (
            f'<?xml version="1.0"?><!DOCTYPE domain [<!ENTITY x SYSTEM "file://{secret}">]>'
            f"<domain type='kvm'><name>vm</name><description>&x;</description>"
            f"<vcpu>1</vcpu><os><type>hvm</type></os></domain>").encode()),
        "external-entity-hostname": ("HS0403", (
            '<!DOCTYPE domain [<!ENTITY h SYSTEM "file:///etc/hostname">]>'
            "<domain type='kvm'><name>&h;</name></domain>").encode()),
        "parameter-entity": ("HS0403", (
            f'<!DOCTYPE domain [<!ENTITY % p SYSTEM "file://{secret}"> %p;]>'
            f"<domain type='kvm'>{DOMAIN_BODY}</domain>").encode()),
        "billion-laughs": ("HS0403", (
            f'<!DOCTYPE domain [<!ENTITY l0 "lol">{laughs}]>'
            "<domain type='kvm'><name>&l9;</name></domain>").encode()),
        "network-dtd": ("HS0403", (
            '<!DOCTYPE domain SYSTEM "http://127.0.0.1:9/domain.dtd">'
            f"<domain type='kvm'>{DOMAIN_BODY}</domain>").encode()),
        "undefined-entity": ("HS0403", b"<domain type='kvm'><name>&x;</name></domain>"),
        "malformed": ("HS0403", b"<domain type='kvm'><name>vm</domain>"),
        "not-xml": ("HS0403", b"\x00\xff\xfe binary"),
        "empty": ("HS0403", b""),
        "deep": ("HS0403", b"<domain>" + b"<a>" * 5000 + b"</a>" * 5000 + b"</domain>"),
        "not-a-domain": ("HS0404", b"<network><name>vm</name></network>"),
        "namespaced-domain": ("HS0404", f"<domain xmlns='urn:x'>{DOMAIN_BODY}</domain>".encode()),
        "name-mismatch": ("HS0405", DOMAIN_BODY.replace("vm", "other").join(
            ["<domain type='kvm'>", "</domain>"]).encode()),
        "no-name": ("HS0405", b"<domain type='kvm'><vcpu>1</vcpu></domain>"),
        "two-names": ("HS0405", b"<domain type='kvm'><name>vm</name><name>vm</name></domain>"),
        "padded-name": ("HS0405", DOMAIN_BODY.replace("<name>vm<", "<name>\n  vm\n  <").join(
            ["<domain type='kvm'>", "</domain>"]).encode()),
    }


CASES = ["external-entity", "external-entity-hostname", "parameter-entity", "billion-laughs",
         "network-dtd", "undefined-entity", "malformed", "not-xml", "empty", "deep",
         "not-a-domain", "namespaced-domain", "name-mismatch", "no-name", "two-names", "padded-name"]


def _compile(tmp_path: pathlib.Path) -> subprocess.CompletedProcess:
    (tmp_path / "hv.mem").write_text(SPEC)
    return subprocess.run([sys.executable, "-m", "hostspec", "compile", "hv.mem", "--out", "out"],
                          cwd=tmp_path, capture_output=True, text=True, timeout=60,
                          env={**os.environ, "PYTHONPATH": str(REPO)})


def _assert_reported(run: subprocess.CompletedProcess, code: str, tmp_path: pathlib.Path) -> None:
    assert run.returncode == 1, run.stdout + run.stderr
    assert f"error[{code}]" in run.stdout + run.stderr
    assert f"hv.mem:{BASE_LINE}:5" in run.stdout + run.stderr
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("case", CASES)
def test_hostile_base_end_to_end(case, tmp_path):
    code, data = _hostile(tmp_path)[case]
    (tmp_path / "base.xml").write_bytes(data)
    run = _compile(tmp_path)
    _assert_reported(run, code, tmp_path)
    assert SECRET not in run.stdout + run.stderr
    assert "Traceback" not in run.stderr


@pytest.mark.parametrize("case", CASES)
def test_hostile_base_in_the_backend(case, tmp_path):
    code, data = _hostile(tmp_path)[case]
    (tmp_path / "base.xml").write_bytes(data)
    spec = spec_of([{"name": "vm", "memory": GiB, "base": "base.xml"}])
    artifacts, problems = domains(spec, context(tmp_path))
    assert artifacts == []
    assert [p.code for p in problems] == [code]
    assert problems[0].span is None  # the empty index has no spans: no crash either
    assert SECRET not in problems[0].message + (problems[0].hint or "")


def test_a_100_mib_base_is_refused_before_it_is_read(tmp_path):
    big = tmp_path / "base.xml"
    with open(big, "wb") as handle:
        handle.write(f"<domain type='kvm'>{DOMAIN_BODY}<!-- ".encode())
        handle.truncate(100 * 1024 * 1024)  # sparse: quick to make, 100 MiB to read
    run = _compile(tmp_path)
    _assert_reported(run, "HS0406", tmp_path)


def test_size_limit_is_exact(tmp_path):
    body = f"<domain type='kvm'>{DOMAIN_BODY}</domain>".encode()
    spec = spec_of([{"name": "vm", "memory": GiB, "base": "base.xml"}])
    (tmp_path / "base.xml").write_bytes(body + b" " * (MAX_BASE_BYTES - len(body)))
    artifacts, problems = domains(spec, context(tmp_path))
    assert problems == [] and len(artifacts) == 1
    (tmp_path / "base.xml").write_bytes(body + b" " * (MAX_BASE_BYTES + 1 - len(body)))
    assert [p.code for p in domains(spec, context(tmp_path))[1]] == ["HS0406"]


@pytest.mark.parametrize("kind", ["missing", "directory", "fifo", "unreadable"])
def test_unreadable_bases(kind, tmp_path):
    path = tmp_path / "base.xml"
    if kind == "directory":
        path.mkdir()
    elif kind == "fifo":
        os.mkfifo(path)  # opening it for reading would block: it must be refused, not hang
    elif kind == "unreadable":
        path.write_text(f"<domain type='kvm'>{DOMAIN_BODY}</domain>")
        path.chmod(0)
        if os.access(path, os.R_OK):  # root reads anything: use a dangling symlink instead
            path.unlink()
            path.symlink_to(tmp_path / "gone.xml")
    run = _compile(tmp_path)
    _assert_reported(run, "HS0402", tmp_path)


def test_base_path_is_relative_to_the_spec_not_the_working_directory(tmp_path):
    spec_dir = tmp_path / "specs"
    spec_dir.mkdir()
    (spec_dir / "hv.mem").write_text(SPEC)
    (spec_dir / "base.xml").write_text(f"<domain type='kvm'>{DOMAIN_BODY}</domain>")
    run = subprocess.run([sys.executable, "-m", "hostspec", "compile", "specs/hv.mem",
                          "--out", "out"], cwd=tmp_path, capture_output=True, text=True,
                         timeout=60, env={**os.environ, "PYTHONPATH": str(REPO)})
    assert run.returncode == 0, run.stdout + run.stderr
    assert (tmp_path / "out/hv/etc/hostspec/domains/vm.xml").is_file()


def test_the_entity_payload_is_a_real_attack(tmp_path):
    """Control: a parser that resolves entities does read the secret from this input."""
    from lxml import etree

    _, data = _hostile(tmp_path)["external-entity"]
    root = etree.fromstring(data, etree.XMLParser(resolve_entities=True, load_dtd=True))
    assert SECRET in root.findtext("description")


def test_a_nul_byte_in_the_base_path_is_a_diagnostic(tmp_path):
    spec = spec_of([{"name": "vm", "memory": GiB, "base": "base\x00.xml"}])
    artifacts, problems = domains(spec, context(tmp_path))
    assert artifacts == [] and [p.code for p in problems] == ["HS0402"]
