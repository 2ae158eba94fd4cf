"""The guest side: /init and the shell library steps may use.

/init prints the machine's memory state between markers, runs the steps,
prints the state again and powers off.  Everything is plain POSIX sh run
by the host's real dash, the shell hostspec's scripts meet on Debian.
"""

from . import mergeable

MARK = "@@HOSTSPEC"
MERGEABLE = "hs/bin/mergeable"

# Values are read with $(cat FILE): dash's read builtin reads one byte at a
# time and /proc/sys files answer EOF to any read past offset 0, so `read`
# would turn swappiness 60 into 6.
LIB_SH = r"""
kv() { # KEY FILE: print KEY=<contents of FILE>, or KEY=<absent>
  if [ -e "$2" ]; then printf '%s=%s\n' "$1" "$(cat "$2" 2>&1)"
  else printf '%s=<absent>\n' "$1"; fi
}

hugepage_state() { # per size, globally and per NUMA node
  sed -n -E 's/^(HugePages_[A-Za-z]+|Hugepagesize|Hugetlb): +/meminfo.\1=/p' /proc/meminfo
  for d in /sys/kernel/mm/hugepages/hugepages-*; do
    [ -d "$d" ] || continue
    kv "hugepages.${d##*-}.nr_hugepages" "$d/nr_hugepages"
    kv "hugepages.${d##*-}.free_hugepages" "$d/free_hugepages"
  done
  for d in /sys/devices/system/node/node[0-9]*/hugepages/hugepages-*; do
    [ -d "$d" ] || continue
    n=${d%/hugepages/*}
    kv "${n##*/}.${d##*-}.nr_hugepages" "$d/nr_hugepages"
  done
}

state() { # everything hostspec's artifacts can change, and the command line
  kv cmdline /proc/cmdline
  kv numa.online /sys/devices/system/node/online
  hugepage_state
  kv thp.enabled /sys/kernel/mm/transparent_hugepage/enabled
  kv thp.defrag /sys/kernel/mm/transparent_hugepage/defrag
  for f in /sys/kernel/mm/ksm/*; do kv "ksm.${f##*/}" "$f"; done
  for k in swappiness overcommit_memory overcommit_ratio nr_hugepages; do
    kv "vm.$k" "/proc/sys/vm/$k"
  done
}
"""

INIT_SH = r"""#!/bin/sh
# hostspec VM test guest: state, steps, state, power off.
export PATH=/usr/sbin:/usr/bin:/sbin:/bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev 2>/dev/null
mount -t tmpfs tmpfs /tmp
mount -t tmpfs tmpfs /run
# Only emergencies reach the console from here on: asynchronous kernel
# messages would otherwise split the KEY=VALUE blocks.
echo 1 >/proc/sys/kernel/printk
. /hs/lib.sh
M=@@MARK@@

echo "$M-STATE-BEGIN boot"
state
echo "$M-STATE-END boot"

for name in $(cat /hs/steps/order); do
  echo "$M-STEP-BEGIN $name"
  /bin/sh "/hs/steps/$name" </dev/null >/tmp/step.out 2>&1
  rc=$?
  cat /tmp/step.out
  echo  # the end marker must start a line even if the output did not end one
  echo "$M-STEP-END $name rc=$rc"
done

echo "$M-STATE-BEGIN after"
state
echo "$M-STATE-END after"
echo "$M-DONE uptime=$(cat /proc/uptime)"
poweroff -f
""".replace("@@MARK@@", MARK)


def step_file(script: str) -> str:
    """A step's file: the helper library, then the caller's snippet."""
    return f"#!/bin/sh\n. /hs/lib.sh\n{script}\n"


def guest_files(steps) -> dict[str, tuple[str | bytes, int]]:
    """Every file the guest needs besides the base system: path -> (content, mode)."""
    files = {"init": (INIT_SH, 0o755), "hs/lib.sh": (LIB_SH, 0o644)}
    files[MERGEABLE] = (mergeable.program(), 0o755)
    files["hs/steps/order"] = ("".join(f"{s.name}\n" for s in steps), 0o644)
    for s in steps:
        files[f"hs/steps/{s.name}"] = (step_file(s.script), 0o644)
    return files
