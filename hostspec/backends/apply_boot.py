"""`boot bls` and `boot kernel-install`: the apply-boot script.

Neither stack has a drop-in directory for kernel arguments, so hostspec
owns its arguments through a state file instead: `var/lib/hostspec/boot-args`
holds the arguments apply-boot put in place, and the next run removes exactly
those before it appends the new ones.  `bls` edits the three places grubby
edits (every entry's `options`, `etc/kernel/cmdline`, `GRUB_CMDLINE_LINUX`
in `etc/default/grub`) without grubby's key-wise replacing, which would
collapse `hugepagesz=1G hugepages=4 hugepagesz=2M hugepages=512` to one
size.  `kernel-install` rewrites `etc/kernel/cmdline` and rebuilds the
entries with `kernel-install add` (or `proxmox-boot-tool refresh`).
"""
from __future__ import annotations

from hostspec.diagnostics import Diagnostic
from hostspec.model import Spec
from hostspec.backends import MODE_EXECUTABLE, Artifact, Context, header

PATH = "usr/libexec/hostspec/apply-boot"
STATE_PATH = "var/lib/hostspec/boot-args"

PROLOGUE = r"""#
# Puts hostspec's kernel arguments on the next boot's command line and takes
# off the ones it put there before (listed in var/lib/hostspec/boot-args).
# Arguments anyone else set are never touched.
#
#   apply-boot           change what differs; print `FILE: old -> new`
#   apply-boot --check   change nothing; print what would change, exit 1 if anything would
#
# Exit 2, and nothing was written: a usage error, a place that is missing or
# unreadable, an entry that uses $kernelopts, a GRUB_CMDLINE_LINUX it cannot
# edit safely, or a file it cannot write in full (read-only, disk full).
# HOSTSPEC_ROOT (default /) is put before every path it reads or writes;
# KERNEL_INSTALL_CONF_ROOT, when set, replaces etc/kernel as for kernel-install.
set -u
trap '' PIPE
umask 077

me=apply-boot
root=${HOSTSPEC_ROOT:-/}
root=${root%/}
state=$root/var/lib/hostspec/boot-args
work=
made=

usage() {
    echo "usage: $me [--check]" >&2
    exit 2
}
case $# in
0) mode=apply ;;
1) [ "$1" = --check ] || usage; mode=check ;;
*) usage ;;
esac

cleanup() {
    for file in $made; do
        rm -f "$file"
    done
    [ -n "$work" ] && rm -rf "$work"
    made=
}
trap 'cleanup; exit 2' HUP INT TERM

die() {
    echo "$me: $*" >&2
    echo "$me: nothing was changed" >&2
    cleanup
    exit 2
}

# edit KIND FILE OUT REPORT: the new text of FILE into OUT, `old -> new` lines
# into REPORT.  Exit 3 when the file cannot be edited safely.
edit() {
    awk -v kind="$1" -v old="$old" -v nxt="$next" -v pending="$pending" -v new="$new" \
        -v report="$4" -v file="$2" '
function tokens(s, a,    t, n, i, m) {
    split("", a); n = split(s, t, /[ \t\r\n]+/); m = 0
    for (i = 1; i <= n; i++) if (t[i] != "") a[++m] = t[i]
    return m
}
function drop(a, na, i, count,    k) {
    for (k = i; k + count <= na; k++) a[k] = a[k + count]
    for (k = na - count + 1; k <= na; k++) delete a[k]
    return na - count
}
# the last run of b[1..nb] in a, as one block; -1 when there is none
function cut_block(a, na, b, nb,    i, j, ok) {
    for (i = na - nb + 1; i >= 1; i--) {
        ok = 1
        for (j = 1; j <= nb; j++) if (a[i + j - 1] != b[j]) { ok = 0; break }
        if (ok) return drop(a, na, i, nb)
    }
    return -1
}
# b as a subsequence matched from the end: an argument someone removed is skipped
function cut_each(a, na, b, nb,    i, j, pos) {
    pos = na
    for (j = nb; j >= 1; j--) {
        for (i = pos; i >= 1; i--) if (a[i] == b[j]) break
        if (i < 1) continue
        na = drop(a, na, i, 1)
        pos = i - 1
    }
    return na
}
function joined(a, n,    i, s) {
    s = ""
    for (i = 1; i <= n; i++) s = s (i > 1 ? " " : "") a[i]
    return s
}
# the value with our old arguments taken off and the new ones appended
# (after a run that stopped halfway a place holds `old` or `nxt`: the longer
# block is tried first, so that one inside the other is not mistaken for it)
function fix(value,    a, na, b, nb, r, first, second) {
    na = tokens(value, a); r = -1
    first = old; second = pending ? nxt : ""
    if (tokens(second, b) > tokens(first, b)) { first = second; second = old }
    if ((nb = tokens(first, b)) > 0) r = cut_block(a, na, b, nb)
    if (r < 0 && (nb = tokens(second, b)) > 0) r = cut_block(a, na, b, nb)
    if (r < 0 && (nb = tokens(old, b)) > 0) r = cut_each(a, na, b, nb)
    if (r >= 0) na = r
    nb = tokens(new, b)
    for (r = 1; r <= nb; r++) a[++na] = b[r]
    return joined(a, na)
}
function same(x, y,    a, b) { return joined(a, tokens(x, a)) == joined(b, tokens(y, b)) }
function refuse(why) { print file ": " why > "/dev/stderr"; failed = 1; exit 3 }
{ line[++n] = $0 }
END {
    if (failed) exit 3
    if (kind == "plain") {
        value = ""
        for (i = 1; i <= n; i++) value = value " " line[i]
        result = fix(value)
        if (same(value, result)) { for (i = 1; i <= n; i++) print line[i]; exit 0 }
        print joined(t0, tokens(value, t0)) " -> " result > report
        print result
        exit 0
    }
    if (kind == "entry") {
        last = 0
        for (i = 1; i <= n; i++) if (line[i] ~ /^options([ \t]|$)/) {
            if (line[i] ~ /\$kernelopts/) refuse("its options use $kernelopts (a grubenv variable); run `grub2-mkconfig --update-bls-cmdline` or `grubby --update-kernel=ALL --args=...` first")
            last = i
        }
        if (last == 0) {
            for (i = 1; i <= n; i++) print line[i]
            if (new != "") { print "options " new; print "(no options) -> " new > report }
            exit 0
        }
        match(line[last], /^options[ \t]*/); head = substr(line[last], 1, RLENGTH)
        value = substr(line[last], RLENGTH + 1); result = fix(value)
        if (!same(value, result)) {
            if (head == "options") head = "options "
            print value " -> " result > report
            line[last] = head result
        }
        for (i = 1; i <= n; i++) print line[i]
        exit 0
    }
    # kind == "grub": the last GRUB_CMDLINE_LINUX= assignment wins in sh
    last = 0
    for (i = 1; i <= n; i++) if (line[i] ~ /^[ \t]*(export[ \t]+)?GRUB_CMDLINE_LINUX=/) last = i
    if (last == 0) {
        for (i = 1; i <= n; i++) print line[i]
        if (new != "") { print "GRUB_CMDLINE_LINUX=\"" new "\""; print "(not set) -> " new > report }
        exit 0
    }
    match(line[last], /^[ \t]*(export[ \t]+)?GRUB_CMDLINE_LINUX=/)
    head = substr(line[last], 1, RLENGTH); rest = substr(line[last], RLENGTH + 1)
    if (rest ~ /^"[^"$`\\]*"[ \t]*(#.*)?$/) {
        close_at = index(substr(rest, 2), "\""); value = substr(rest, 2, close_at - 1)
        tail = substr(rest, close_at + 2); quote = "\""
    } else if (rest ~ /^'"'"'[^'"'"']*'"'"'[ \t]*(#.*)?$/) {
        close_at = index(substr(rest, 2), "'"'"'"); value = substr(rest, 2, close_at - 1)
        tail = substr(rest, close_at + 2); quote = "'"'"'"
    } else if (rest ~ /^[^ \t"'"'"'$`\\;&|<>()#]*$/) {
        value = rest; tail = ""; quote = "\""
    } else {
        refuse("line " last ": GRUB_CMDLINE_LINUX is not one plain quoted value; write it as GRUB_CMDLINE_LINUX=\"...\" and run again")
    }
    result = fix(value)
    if (!same(value, result)) {
        print value " -> " result > report
        line[last] = head quote result quote tail
    }
    for (i = 1; i <= n; i++) print line[i]
}' "$2" >"$3"
}

# Every place, with its kind; a missing or unreadable one stops the run.
places=
add_place() {
    [ -f "$2" ] || die "$2 is missing (see docs/boot-targets.md)"
    [ -r "$2" ] || die "cannot read $2"
    places="$places $1:$2"
}

# One run at a time: a second waits for the first (flock on the directory of
# etc/kernel/cmdline), then sees what it did.  Taken before the state is read.
lock() {
    [ "$mode" = apply ] || return 0
    command -v flock >/dev/null 2>&1 || return 0
    exec 9<"$1" || die "cannot open $1"
    flock -w 300 9 || die "another apply-boot has held $1 for 5 minutes"
}

# The state: `args ...` (in place everywhere), and during a run `next ...`
# (every place holds either the `args` or the `next` list).
old=
next=
pending=0
read_state() {
    if [ -e "$state" ]; then
        if [ ! -f "$state" ] || [ ! -r "$state" ]; then
            die "cannot read $state"
        fi
        while IFS= read -r line || [ -n "$line" ]; do
            case $line in
            args|"args "*) old=${line#args}; old=${old# } ;;
            next|"next "*) next=${line#next}; next=${next# }; pending=1 ;;
            esac
        done <"$state"
    fi
}

# prepare: each changed place's new text, complete, in a temporary file
# beside it that keeps the file's mode and owner.  Nothing is renamed yet.
changes=0
ready=
prepare() {
    work=$(mktemp -d "${TMPDIR:-/tmp}/apply-boot.XXXXXX") || die "cannot make a work directory"
    number=0
    for place in $places; do
        kind=${place%%:*}
        file=${place#*:}
        number=$((number + 1))
        edit "$kind" "$file" "$work/$number" "$work/$number.report"
        case $? in
        0) ;;
        3) die "$file cannot be edited safely" ;;
        *) die "cannot read $file" ;;
        esac
        [ "$mode" = apply ] && rm -f "${file%/*}/.${file##*/}".hostspec-*  # left by a killed run
        if cmp -s "$file" "$work/$number"; then
            continue
        fi
        changes=$((changes + 1))
        while IFS= read -r line; do
            echo "$file: $line" || true
        done <"$work/$number.report"
        [ "$mode" = check ] && continue
        temp=$(mktemp "${file%/*}/.${file##*/}.hostspec-XXXXXX" 2>/dev/null) ||
            die "cannot write in ${file%/*} (read-only?)"
        made="$made $temp"
        if ! { cp -p "$file" "$temp" && cat "$work/$number" >"$temp" &&
               cmp -s "$work/$number" "$temp"; } 2>/dev/null; then
            die "cannot write $temp in full (disk full?)"
        fi
        ready="$ready $temp:$file"
    done
}

# write_state TEXT: the state file, atomically.
write_state() {
    dir=${state%/*}
    mkdir -p "$dir" 2>/dev/null || return 1
    rm -f "$dir"/.boot-args.??????  # left by a killed run
    temp=$(mktemp "$dir/.boot-args.XXXXXX" 2>/dev/null) || return 1
    made="$made $temp"
    printf '%s\n' "$1" >"$temp" 2>/dev/null && chmod 644 "$temp" && mv -f "$temp" "$state"
}
"""

BLS = r"""
for entry in "$root"/boot/loader/entries/*.conf; do
    [ -e "$entry" ] || die "no boot entries in $root/boot/loader/entries"
    add_place entry "$entry"
done
add_place plain "$root/etc/kernel/cmdline"
add_place grub "$root/etc/default/grub"

lock "$root/etc/kernel"
read_state
prepare
"""

KERNEL_INSTALL = r"""
conf=${KERNEL_INSTALL_CONF_ROOT:-$root/etc/kernel}
add_place plain "$conf/cmdline"

# The kernels to rebuild entries for: VERSION:IMAGE, each version once.
kernels=
for image in "$root"/usr/lib/modules/*/vmlinuz "$root"/boot/vmlinuz-*; do
    [ -f "$image" ] || continue
    case $image in
    */vmlinuz) version=${image%/vmlinuz}; version=${version##*/} ;;
    *) version=${image##*/vmlinuz-} ;;
    esac
    case " $kernels " in
    *" $version:"*) ;;
    *) kernels="$kernels $version:$image" ;;
    esac
done
refresh=
if [ -z "$root" ] && command -v proxmox-boot-tool >/dev/null 2>&1; then
    refresh=proxmox-boot-tool
elif [ -z "$kernels" ]; then
    die "no kernel in $root/usr/lib/modules/*/vmlinuz or $root/boot/vmlinuz-*"
else
    command -v kernel-install >/dev/null 2>&1 || die "kernel-install is not installed"
fi

lock "$conf"
read_state
prepare
"""

EPILOGUE = r"""
if [ "$mode" = check ]; then
    [ "$pending" = 1 ] && { echo "$state: a run did not finish" || true; changes=$((changes + 1)); }
    cleanup
    [ "$changes" -eq 0 ] && exit 0
    exit 1
fi
if [ "$changes" -eq 0 ] && [ "$pending" = 0 ] && [ "$old" = "$new" ]; then
    cleanup
    exit 0
fi
# From here on every place holds the `args` list or the `next` one.
write_state "args $old
next $new" || die "cannot write $state"
made=
for pair in $ready; do
    temp=${pair%%:*}
    file=${pair#*:}
    mv -f "$temp" "$file" || { echo "$me: cannot rename $temp to $file" >&2; exit 1; }
done
"""

REBUILD = r"""
if [ -n "$refresh" ]; then
    "$refresh" refresh || { echo "$me: $refresh refresh failed; run $me again" >&2; exit 1; }
else
    for pair in $kernels; do
        kernel-install add "${pair%%:*}" "${pair#*:}" ||
            { echo "$me: kernel-install add ${pair%%:*} failed; run $me again" >&2; exit 1; }
    done
fi
"""

FINISH = r"""
write_state "args $new" || { echo "$me: cannot write $state; run $me again" >&2; exit 1; }
cleanup
exit 0
"""


def script(target: str, words: list[str], ctx: Context) -> str:
    """The whole script for `target` (bls or kernel-install) and the arguments."""
    line = " ".join(words)  # safe tokens: no quote, no space inside
    middle = BLS if target == "bls" else KERNEL_INSTALL
    body = PROLOGUE + f"\nnew='{line}'\n" + middle + EPILOGUE
    if target == "kernel-install":
        body += REBUILD
    return "#!/bin/sh\n" + header(ctx) + body + FINISH


def place(spec: Spec, ctx: Context, words: list[str]) -> tuple[list[Artifact], list[Diagnostic]]:
    target = spec.host.boot
    summary = ("puts them in every BLS entry, etc/kernel/cmdline and etc/default/grub"
               if target == "bls" else
               "puts them in etc/kernel/cmdline and rebuilds the entries with kernel-install")
    if not words:
        summary = "takes off the kernel arguments an earlier apply-boot put in place"
    return [Artifact(PATH, script(target, words, ctx).encode("ascii"), "apply-boot", "boot",
                     MODE_EXECUTABLE, summary=summary + "; when run")], []
