# -*- coding: utf-8 -*-
# Copyright: hostspec maintainers
# Apache License 2.0 (see https://www.apache.org/licenses/LICENSE-2.0)
"""Controller side of hostspec.fleet.audit: the spec and the comparison stay here."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import json
import os
import shutil
import subprocess
import tempfile

from ansible.errors import AnsibleActionFail
from ansible.module_utils.common.text.converters import to_text
from ansible.module_utils.parsing.convert_bool import boolean
from ansible.plugins.action import ActionBase


class ActionModule(ActionBase):

    TRANSFERS_FILES = False
    _VALID_ARGS = frozenset(("spec", "fail_on_drift", "hostspec_cli", "include_path", "root"))

    def _audit(self, cli, spec, include_path, root):
        argv = [cli, "audit", spec, "--root", root, "--format", "json"]
        argv += ["--include-path=%s" % path for path in include_path]
        try:
            proc = subprocess.run(argv, capture_output=True, text=True, check=False)
        except OSError as exc:
            raise AnsibleActionFail("cannot run %s: %s" % (cli, exc))
        if proc.returncode not in (0, 1, 2) or not proc.stdout.strip():
            raise AnsibleActionFail("%s audit %s failed (exit %d): %s"
                                    % (cli, spec, proc.returncode, proc.stderr.strip()))
        try:
            return json.loads(proc.stdout)
        except ValueError:
            raise AnsibleActionFail("%s audit printed no JSON: %s" % (cli, proc.stdout[:200]))

    def run(self, tmp=None, task_vars=None):
        result = super(ActionModule, self).run(tmp, task_vars)
        args = self._task.args
        if "spec" not in args:
            raise AnsibleActionFail("spec is required")
        spec = self._loader.path_dwim(to_text(args["spec"]))
        cli = to_text(args.get("hostspec_cli", "hostspec"))
        include_path = [to_text(p) for p in args.get("include_path", []) or []]
        fail_on_drift = boolean(args.get("fail_on_drift", False), strict=True)
        root = to_text(args.get("root", "/"))

        scratch = tempfile.mkdtemp(prefix="hostspec-audit-")
        try:
            # Which files the spec's audit reads: ask hostspec against an empty root.
            empty = os.path.join(scratch, "empty")
            os.mkdir(empty)
            listing = self._audit(cli, spec, include_path, empty)
            files = sorted({row["file"] for row in listing.get("items", []) if row.get("file")})

            remote = self._execute_module(
                module_name="hostspec.fleet.audit",
                module_args={"spec": spec, "root": root, "files": files},
                task_vars=task_vars)
            if remote.get("failed"):
                result.update(remote)
                return result

            # The host's files in a scratch root, and hostspec compares them.
            copy = os.path.join(scratch, "root")
            os.mkdir(copy)
            errors = {}
            for rel, entry in remote.get("contents", {}).items():
                if entry.get("text") is None:
                    errors[rel] = entry.get("error")
                    continue
                path = os.path.join(copy, rel)
                os.makedirs(os.path.dirname(path), exist_ok=True)
                with open(path, "w", encoding="utf-8") as handle:
                    handle.write(entry["text"])
            report = self._audit(cli, spec, include_path, copy)
        finally:
            shutil.rmtree(scratch, ignore_errors=True)

        rows = []
        for row in report.get("items", []):
            row = dict(row)
            if row.get("file") in errors:
                row["error"] = errors[row["file"]]
            rows.append(row)
        facts = {"result": report.get("result"), "summary": report.get("summary"), "rows": rows}
        result.update(changed=False, result=facts["result"], summary=facts["summary"], rows=rows,
                      ansible_facts={"hostspec_audit": facts})
        if fail_on_drift and facts["result"] == "drift":
            drifted = ", ".join(row["item"] for row in rows if row.get("status") == "drift")
            result["failed"] = True
            result["msg"] = "%s has drifted from its spec: %s" % (task_vars.get("inventory_hostname"), drifted)
        else:
            result["msg"] = facts["summary"]
        return result
