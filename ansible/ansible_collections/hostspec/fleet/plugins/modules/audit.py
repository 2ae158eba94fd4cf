#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: hostspec maintainers
# Apache License 2.0 (see https://www.apache.org/licenses/LICENSE-2.0)

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r"""
---
module: audit
short_description: Audit a host against its hostspec spec
description:
  - Returns the rows of C(hostspec audit) for the host as facts, each C(ok), C(drift) or C(unknown).
  - The spec is read and the values compared on the controller, with the hostspec CLI there;
    on the host this module only reads the files the audit names (C(/proc/cmdline),
    C(/proc/cpuinfo), huge page, THP and KSM files under C(/sys), C(/proc/sys/vm)).
    The host needs Python and nothing from hostspec.
version_added: "0.1.0"
author:
  - hostspec maintainers (@hostspec)
options:
  spec:
    description: Path of the host's C(.mem) or C(.json) spec on the controller.
    type: path
    required: true
  fail_on_drift:
    description: Fail the task when any row drifted, so that a play can stop on it.
    type: bool
    default: false
  hostspec_cli:
    description: The hostspec command on the controller.
    type: str
    default: hostspec
  include_path:
    description: Directories includes may also come from.
    type: list
    elements: path
    default: []
  root:
    description: Directory on the host that holds its C(proc) and C(sys).
    type: path
    default: /
  files:
    description:
      - Files to read, relative to O(root). Set by the action plugin from the spec; leave it out.
    type: list
    elements: str
    default: []
notes:
  - Runs in check mode; it only reads.
"""

EXAMPLES = r"""
- name: Stop the rollout on a drifted host
  hostspec.fleet.audit:
    spec: "{{ hostspec_spec }}"
    fail_on_drift: true

- name: Audit and report
  hostspec.fleet.audit:
    spec: specs/hv-07.mem
  register: audit

- name: Show the drifted rows
  ansible.builtin.debug:
    msg: "{{ audit.items | selectattr('status', 'equalto', 'drift') | list }}"
"""

RETURN = r"""
result:
  description: C(match), C(drift) or C(unknown), as C(hostspec audit) says it.
  returned: always
  type: str
  sample: match
summary:
  description: The audit's summary line.
  returned: always
  type: str
  sample: "12 ok, 0 drift, 0 unknown: the host matches its spec"
rows:
  description: One row per audited item.
  returned: always
  type: list
  elements: dict
  sample: [{"item": "THP enabled", "file": "sys/kernel/mm/transparent_hugepage/enabled",
            "expected": "madvise", "actual": "madvise", "status": "ok", "error": null}]
ansible_facts:
  description: C(hostspec_audit) with C(result), C(summary) and C(rows).
  returned: always
  type: dict
  sample: {"hostspec_audit": {"result": "match"}}
contents:
  description: What the host held in each file read (internal, used by the action plugin).
  returned: when called with O(files)
  type: dict
  sample: {"proc/cmdline": {"text": "BOOT_IMAGE=/vmlinuz ro", "error": null}}
"""

import os

from ansible.module_utils.basic import AnsibleModule

MAX_BYTES = 1 << 20


def read_files(root, files):
    contents = {}
    for rel in files:
        rel = rel.lstrip("/")
        if ".." in rel.split("/"):
            contents[rel] = {"text": None, "error": "path leaves the root"}
            continue
        path = os.path.join(root, rel)
        try:
            with open(path, "rb") as handle:
                data = handle.read(MAX_BYTES)
        except OSError as exc:
            contents[rel] = {"text": None, "error": "%s: %s" % (path, exc.strerror or exc)}
            continue
        contents[rel] = {"text": data.decode("utf-8", "replace"), "error": None}
    return contents


def main():
    module = AnsibleModule(
        argument_spec=dict(
            spec=dict(type="path", required=True),
            fail_on_drift=dict(type="bool", default=False),
            hostspec_cli=dict(type="str", default="hostspec"),
            include_path=dict(type="list", elements="path", default=[]),
            root=dict(type="path", default="/"),
            files=dict(type="list", elements="str", default=[]),
        ),
        supports_check_mode=True,
    )
    contents = read_files(module.params["root"], module.params["files"])
    module.exit_json(changed=False, contents=contents)


if __name__ == "__main__":
    main()
