"""apply-domains and hostspec-domains.service: the guests' domain XML, defined in libvirt.

The script is a fixed prologue of shell functions, the list of the spec's
guest names, and a fixed epilogue.  It defines a domain only when its XML
changed since the last run (state: `var/lib/hostspec/domains`, one
`NAME SHA256` line per domain it defined; the sum leaves out the header
line, which names the source's sha256 and so changes with every edit of the
spec, whichever guest it touches), undefines a domain it defined
earlier once the spec no longer has it and it is shut off, and never touches
a domain it did not define.  No guest is ever started, stopped or restarted.
"""
from __future__ import annotations

import re

from hostspec.diagnostics import Diagnostic
from hostspec.model import Spec
from hostspec.backends import MODE_EXECUTABLE, Artifact, Context, header, oneshot_unit

PATH = "usr/libexec/hostspec/apply-domains"
INSTALLED_PATH = "/" + PATH
UNIT_PATH = "etc/systemd/system/hostspec-domains.service"
UNIT = "hostspec-domains.service"
DOMAINS_DIR = "etc/hostspec/domains"
STATE_PATH = "var/lib/hostspec/domains"
# The name rule of the language: safe in shell without quoting.
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,62}")

PROLOGUE = r"""#
# Defines the spec's libvirt domains from etc/hostspec/domains/NAME.xml with
# `virsh define --validate`, each only when its domain changed since the last
# run or libvirt no longer has it (hostspec's header line, which names the
# source's sha256 and so changes with every edit of the spec, is not counted).  A domain this script defined earlier and
# the spec no longer has is undefined once it is shut off; while it runs it is
# reported and left alone.  Domains it never defined are never touched, and no
# guest is started, stopped or restarted: a running guest whose definition
# changed takes it at its next restart.
#
#   apply-domains           exit 0 when done (a running guest may still wait),
#                           1 when libvirt refused a definition or an undefine
#   apply-domains --check   change nothing, print what it would do, exit 1 if anything
#
# Exit 2 (nothing changed): a usage error, a domain file is missing, or libvirt
# cannot be reached.
# HOSTSPEC_ROOT (default /) prefixes every file it reads and writes;
# HOSTSPEC_LIBVIRT_URI (default qemu:///system) names the libvirt it talks to.
# State: var/lib/hostspec/domains, one `NAME SHA256` line per domain it
# defined (the sha256 of its file without the header line), written last and
# atomically, so a failed run is repeated.
set -u
# A reader that goes away (`| head`) must not stop it before the state is written.
trap '' PIPE

root=${HOSTSPEC_ROOT:-/}
root=${root%/}
uri=${HOSTSPEC_LIBVIRT_URI:-qemu:///system}
dir=$root/etc/hostspec/domains
state=$root/var/lib/hostspec/domains
status=0
differs=0
kept=
case $# in
0) mode=apply ;;
1) [ "$1" = --check ] || { echo "usage: apply-domains [--check]" >&2; exit 2; }
   mode=check ;;
*) echo "usage: apply-domains [--check]" >&2; exit 2 ;;
esac

fail() {
    echo "apply-domains: $*" >&2
    status=1
}

lv() {
    virsh -q -c "$uri" "$@"
}

# has LIST NAME: NAME is one of the lines of LIST.
has() {
    printf '%s\n' "$1" | grep -Fqx -e "$2"
}

# recorded NAME: the sha256 the state file holds for NAME, or nothing.
recorded() {
    [ -f "$state" ] || return 0
    awk -v name="$1" '$1 == name { print $2; exit }' "$state"
}

# keep NAME SUM: a line of the state this run writes.
keep() {
    if [ -n "$2" ]; then
        kept="$kept$1 $2
"
    fi
}

# forget_or_undefine NAME: a domain this script defined that the spec no longer has.
forget_or_undefine() {
    if ! has "$defined" "$1"; then
        differs=1
        echo "$1: no longer in the spec and no longer in libvirt: forgotten"
        return 0
    fi
    differs=1
    if has "$active" "$1"; then
        echo "$1: no longer in the spec but running: left defined; shut it down and run apply-domains again"
        keep "$1" "$(recorded "$1")"
        return 0
    fi
    if [ "$mode" = check ]; then
        echo "$1: would undefine (no longer in the spec, shut off)"
        keep "$1" "$(recorded "$1")"
        return 0
    fi
    # --keep-nvram: the guest's UEFI variables stay on disk, as its disks do.
    if out=$(lv undefine --keep-nvram "$1" 2>&1); then
        echo "$1: undefined (no longer in the spec)"
    else
        fail "$1: libvirt refused to undefine it: $out"
        keep "$1" "$(recorded "$1")"
    fi
}

# digest FILE: the sha256 of the domain in FILE, without hostspec's header line.
digest() {
    body=$(sed -e '1{/^<!-- hostspec .*: generated, do not edit -->$/d' -e '}' "$1") || return 1
    printf '%s\n' "$body" | sha256sum
}

# define NAME: define the domain from its file unless libvirt has this very domain.
define() {
    file=$dir/$1.xml
    sum=$(digest "$file") || { fail "cannot read $file"; return 1; }
    sum=${sum%% *}
    old=$(recorded "$1")
    if [ "$old" = "$sum" ] && has "$defined" "$1"; then
        keep "$1" "$sum"
        return 0
    fi
    if [ -z "$old" ] && has "$defined" "$1"; then
        why="replaces a definition hostspec did not make"
    elif [ -z "$old" ]; then
        why=new
    elif has "$defined" "$1"; then
        why=changed
    else
        why="missing from libvirt"
    fi
    differs=1
    if [ "$mode" = check ]; then
        echo "$1: would define from $file ($why)"
        keep "$1" "$old"
        return 0
    fi
    if ! out=$(lv define --validate "$file" 2>&1); then
        fail "$1: libvirt refused $file: $out"
        keep "$1" "$old"
        return 1
    fi
    keep "$1" "$sum"
    if has "$active" "$1"; then
        echo "$1: defined from $file ($why); running: takes the new definition at its next restart"
    else
        echo "$1: defined from $file ($why)"
    fi
}

write_state() {
    if [ -f "$state" ] && printf '%s' "$kept" | sort | cmp -s - "$state"; then
        return 0
    fi
    mkdir -p "${state%/*}" || { fail "cannot make ${state%/*}"; return 1; }
    tmp=$(mktemp "$state.XXXXXX") || { fail "cannot write $state"; return 1; }
    if printf '%s' "$kept" | sort >"$tmp" && chmod 0644 "$tmp" && mv -f "$tmp" "$state"; then
        return 0
    fi
    rm -f "$tmp"
    fail "cannot write $state"
}
"""

EPILOGUE = r"""
missing=0
for name in $guests; do
    if [ ! -r "$dir/$name.xml" ]; then
        echo "apply-domains: $dir/$name.xml is missing" >&2
        missing=1
    fi
done
[ "$missing" = 0 ] || { echo "apply-domains: nothing was changed" >&2; exit 2; }

if ! defined=$(lv list --all --name) || ! active=$(lv list --name); then
    echo "apply-domains: cannot reach libvirt at $uri; nothing was changed" >&2
    exit 2
fi

# Undefine first: a guest renamed in a base that keeps its UUID can only be
# defined once the old name is gone.
names=
[ -f "$state" ] && names=$(awk '{ print $1 }' "$state")
for name in $names; do
    case $name in
    [!A-Za-z0-9]* | *[!A-Za-z0-9_.-]*) continue ;;  # not a name hostspec writes
    esac
    has "$guests" "$name" || forget_or_undefine "$name"
done
for name in $guests; do
    define "$name"
done

if [ "$mode" = check ]; then
    exit "$differs"
fi
write_state
exit "$status"
"""


def _name(text: str) -> str:
    """A guest name known safe in shell without quoting (the name rule)."""
    if not _NAME.fullmatch(text):
        raise ValueError(f"unsafe guest name for apply-domains: {text!r}")
    return text


def script_text(spec: Spec, ctx: Context) -> str:
    """The script: prologue, the guests' names (one a line), epilogue."""
    names = "".join(f"{_name(guest.name)}\n" for guest in spec.guests)
    return ("#!/bin/sh\n" + header(ctx) + PROLOGUE
            + "\n# The spec's guests, one a line: each has etc/hostspec/domains/NAME.xml.\n"
            + f"guests='\n{names}'\n" + EPILOGUE)


def unit_text(ctx: Context) -> str:
    """hostspec-domains.service: after libvirt is up, before libvirt-guests starts guests."""
    return oneshot_unit(ctx, "Define hostspec's libvirt domains (changed ones only)", [
        # libvirtd on Debian; virtqemud where libvirt runs modular daemons.  The
        # sockets too: with socket activation the service may not be started yet.
        "After=libvirtd.service virtqemud.service libvirtd.socket virtqemud.socket",
        # libvirt-guests starts (or resumes) guests at boot: they get the new definitions.
        "Before=libvirt-guests.service",
    ], INSTALLED_PATH)


def apply_domains(spec: Spec, ctx: Context) -> tuple[list[Artifact], list[Diagnostic]]:
    """The script and its unit, whenever the spec has a guest."""
    if not spec.guests:
        return [], []
    return [
        Artifact(PATH, script_text(spec, ctx).encode("ascii"), "apply-script", "runtime",
                 MODE_EXECUTABLE,
                 summary="defines the changed libvirt domains and undefines removed ones "
                         "once shut off; when run (at every boot by hostspec-domains.service)"),
        Artifact(UNIT_PATH, unit_text(ctx).encode("ascii"), "systemd-unit", "runtime",
                 summary="runs apply-domains at every boot, after libvirtd, before libvirt-guests"),
    ], []
