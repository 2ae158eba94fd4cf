"""One virtme-ng guest: boot, SSH, files in and out, stop."""

import os
import shlex
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

from .hosttools import find_kernel, ssh_identity, tool_path

# The guest's --exec script.  virtme-ng's init configures the first network
# interface it finds; under a loaded TCG host the virtio NIC can show up
# after that, unconfigured (and renamed by udev).  QEMU's user network always
# has the guest at 10.0.2.15/24 behind 10.0.2.2, where the SSH port is
# forwarded, so give the NIC that address when it has none.  bash sources
# ~/.bashrc for every command sshd runs, and the host's (pyenv, completions)
# costs seconds of emulated CPU per command: empty the guest's copy-on-write
# copy of root's before the first login.  Then say so on
# the console and keep the machine up until stop() (virtme-ng powers off
# when the script ends).
KEEPALIVE = (
    "i=0; while [ $i -lt 120 ]; do "
    "if ip -4 -o addr show scope global | grep -q inet; then break; fi; "
    "nic=$(ls /sys/class/net | grep -v '^lo$' | head -n 1); "
    "if [ -n \"$nic\" ] && [ $i -ge 3 ]; then ip link set \"$nic\" up; "
    "ip addr add 10.0.2.15/24 dev \"$nic\"; ip route add default via 10.0.2.2; "
    "echo \"hostspec-vng: configured $nic\" > /dev/kmsg; fi; "
    "i=$((i + 1)); sleep 1; done; "
    "if [ -s /root/.bashrc ]; then : > /root/.bashrc; fi; "
    "echo hostspec-vng: up > /dev/kmsg; while :; do sleep 3600; done"
)


# With systemd as init: `container=` (empty) tells PID 1 it is not in a
# container, which it would otherwise conclude from a /.dockerenv in this
# machine's root (the guest's root); its generators still see "some
# container" and would start console-getty.service, so PID 1 is told to start
# the serial getty through which vng runs its own init (network, --exec, sshd).
SYSTEMD_ARGS = ("container=", "systemd.unit=serial-getty@ttyS0.service")


class VMError(RuntimeError):
    """A guest did not boot, did not answer, or a command in it failed."""


def free_port() -> int:
    """A loopback TCP port nobody listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class VM:
    """A guest booted by ``vng --run`` with sshd on ``127.0.0.1:ssh_port``.

    name      guest host name (``hostname`` in the guest) and log file name
    kernel    path of the kernel image; the newest /boot/vmlinuz-* by default
    append    words added to the kernel command line (a string or a list)
    numa      memory of each NUMA node, e.g. ``["1G", "1G"]``; node N gets CPU N
    cpus      CPU count (at least one per node; 1 without numa)
    memory    guest memory without numa (the nodes' sum with numa)
    overlay   directories copy-on-write in the guest besides virtme-ng's own
              (/etc /lib /home /opt /srv /usr /var /tmp); /boot and /root
              (where Ansible makes its temporary directory) by default
    rwdirs    ``{guest_path: host_path}`` shared read-write with the host
    disks     image files attached as virtio disks (/dev/vda, /dev/vdb ... in order)
    accel     "tcg" (default, works without /dev/kvm) or "kvm"
    cpu_model QEMU's -cpu, "max" by default (every flag TCG emulates)
    workdir   where the console log goes; a fresh temporary directory by default
    systemd   boot systemd as init (``vng --systemd``); virtme-ng's init then
              runs as serial-getty@ttyS0.service, which SYSTEMD_ARGS start
              (README.md says why)
    """

    def __init__(self, name="vng", *, kernel=None, append=(), numa=None, cpus=None,
                 memory="1G", overlay=("/boot", "/root"), rwdirs=None, disks=(), accel="tcg",
                 cpu_model="max", workdir=None, boot_timeout=300.0, systemd=False):
        if accel not in ("tcg", "kvm"):
            raise ValueError(f"accel must be 'tcg' or 'kvm', not {accel!r}")
        self.name = name
        self.kernel = Path(kernel) if kernel else find_kernel()
        self.append = shlex.split(append) if isinstance(append, str) else list(append)
        self.numa = list(numa) if numa else []
        self.cpus = cpus or max(1, len(self.numa))
        if self.cpus < len(self.numa):
            raise ValueError("at least one CPU per NUMA node")
        self.memory = memory
        self.overlay = list(overlay)
        self.rwdirs = dict(rwdirs or {})
        self.disks = [Path(d) for d in disks]
        self.accel = accel
        self.cpu_model = cpu_model
        self.workdir = Path(workdir) if workdir else Path(tempfile.mkdtemp(prefix=f"vng-{name}-"))
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.console_log = self.workdir / f"{name}.console.log"
        self.boot_timeout = boot_timeout
        self.systemd = systemd
        self.ssh_port = None
        self.identity = None
        self._proc = None
        self._log = None

    # -- the vng command line ------------------------------------------------
    def command(self) -> list[str]:
        """The ``vng`` argument vector this VM boots with."""
        cmd = ["vng", "--run", str(self.kernel), "--verbose", "--name", self.name,
               "--cwd", "/", "--cpus", str(self.cpus), f"--qemu-opts=-cpu {self.cpu_model}"]
        if self.accel == "tcg":
            cmd.append("--disable-kvm")
        if self.systemd:
            cmd.append("--systemd")
        if self.numa:
            total_mib = sum(_mib(size) for size in self.numa)
            cmd += ["--memory", f"{total_mib}M"]
            for node, size in enumerate(self.numa):
                cmd += ["--numa", f"{size},cpus={node}"]
        else:
            cmd += ["--memory", self.memory]
        for directory in self.overlay:
            cmd += ["--overlay-rwdir", directory]
        for guest, host in self.rwdirs.items():
            cmd += ["--rwdir", f"{guest}={host}"]
        for disk in self.disks:
            cmd += ["--disk", str(disk)]
        append = [*SYSTEMD_ARGS, *self.append] if self.systemd else self.append
        if append:
            cmd += ["--append", " ".join(append)]
        cmd += ["--ssh", str(self.ssh_port), "--ssh-tcp", "--exec", KEEPALIVE]
        return cmd

    # -- life cycle -------------------------------------------------------------
    def start(self) -> "VM":
        """Start QEMU in the background; :meth:`wait` waits for sshd."""
        if self._proc is not None:
            raise VMError(f"{self.name}: already started")
        self.identity = ssh_identity()
        self.ssh_port = free_port()
        self._log = open(self.console_log, "wb")
        self._proc = subprocess.Popen(
            self.command(), stdin=subprocess.DEVNULL, stdout=self._log, stderr=subprocess.STDOUT,
            env={**os.environ, "PATH": tool_path()}, start_new_session=True)
        self._started = time.monotonic()
        return self

    def wait(self) -> "VM":
        """Wait until the guest answers over SSH; raise VMError with the console's tail if not."""
        deadline = self._started + self.boot_timeout
        while True:
            if self._proc.poll() is not None:
                raise VMError(f"{self.name}: vng exited with {self._proc.returncode} before sshd "
                              f"answered\n{self.console_tail()}")
            probe = self.ssh(["true"], timeout=120, check=False, connect_timeout=10)
            if probe.returncode == 0:
                # ssh takes the first value of an option: these come first.
                subprocess.run(["ssh", "-o", "ControlMaster=yes", "-o", "ControlPersist=yes",
                                *self.ssh_options(), "-f", "-N", "root@127.0.0.1"],
                               stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL, timeout=120, check=False)
                # bash sources ~/.bashrc for every command sshd runs; the
                # host's (pyenv, completions ...) costs seconds of emulated CPU
                # per command.  Empty the guest's copy-on-write copy of it.
                self.ssh("if [ -s ~/.bashrc ]; then : > ~/.bashrc; fi", timeout=120)
                self.boot_seconds = time.monotonic() - self._started
                return self
            if time.monotonic() > deadline:
                raise VMError(f"{self.name}: no SSH on 127.0.0.1:{self.ssh_port} after "
                              f"{self.boot_timeout:.0f}s\n{self.console_tail()}")
            time.sleep(2)

    def boot(self) -> "VM":
        """start() and wait()."""
        return self.start().wait()

    def stop(self, timeout=60.0) -> None:
        """Power the guest off (sysrq o, as a crash-consistent stop) and reap QEMU."""
        if self._proc is None:
            return
        if self._proc.poll() is None:
            self.ssh("sync; echo o > /proc/sysrq-trigger", check=False, timeout=15, connect_timeout=5)
            try:
                self._proc.wait(timeout)
            except subprocess.TimeoutExpired:
                os.killpg(self._proc.pid, signal.SIGTERM)
                try:
                    self._proc.wait(15)
                except subprocess.TimeoutExpired:
                    os.killpg(self._proc.pid, signal.SIGKILL)
                    self._proc.wait()
        self._proc = None
        subprocess.run(["ssh", *self.ssh_options(), "-O", "exit", "root@127.0.0.1"],
                       capture_output=True, timeout=30)
        if self._log:
            self._log.close()
            self._log = None

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def __enter__(self):
        return self.boot()

    def __exit__(self, *exc):
        self.stop()

    def console_tail(self, lines=40) -> str:
        try:
            text = self.console_log.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    # -- SSH ----------------------------------------------------------------------
    def ssh_options(self, connect_timeout=20) -> list[str]:
        """ssh(1) options that reach this guest (port, key, no host key bookkeeping)."""
        return ["-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=no",
                "-o", "UserKnownHostsFile=/dev/null", "-o", "LogLevel=ERROR",
                "-o", f"ConnectTimeout={connect_timeout}", "-o", "IdentitiesOnly=yes",
                # One connection for all commands: a key exchange costs
                # seconds of emulated CPU under TCG.
                # (the master is started by wait(), detached from every pipe).
                "-o", "ControlMaster=no", "-o", f"ControlPath={self.workdir}/ssh-%C",
                "-i", str(self.identity), "-p", str(self.ssh_port)]

    def ssh(self, command, *, input=None, check=True, timeout=300, connect_timeout=20,
            text=True) -> subprocess.CompletedProcess:
        """Run a shell command (string) or argv (list, quoted for the remote shell) as root."""
        if not isinstance(command, str):
            command = shlex.join(command)
        argv = ["ssh", *self.ssh_options(connect_timeout), "root@127.0.0.1", command]
        try:
            result = subprocess.run(argv, input=input, capture_output=True, text=text,
                                    timeout=timeout)
        except subprocess.TimeoutExpired as exc:
            raise VMError(f"{self.name}: {command!r} timed out after {timeout}s") from exc
        if check and result.returncode != 0:
            raise VMError(f"{self.name}: {command!r} exited {result.returncode}\n"
                          f"stdout: {result.stdout}\nstderr: {result.stderr}")
        return result

    run = ssh

    def read(self, path) -> str:
        """The text of a file in the guest."""
        return self.ssh(["cat", "--", str(path)]).stdout

    def write(self, path, data, mode="0644") -> None:
        """Write a file in the guest (str or bytes), atomically."""
        tmp = f"{path}.vng-tmp"
        payload = data.encode() if isinstance(data, str) else data
        self.ssh(f"mkdir -p -- {shlex.quote(str(Path(path).parent))} && cat > {shlex.quote(tmp)} && "
                 f"chmod {mode} {shlex.quote(tmp)} && mv -f {shlex.quote(tmp)} {shlex.quote(str(path))}",
                 input=payload, text=False)

    @property
    def cmdline(self) -> str:
        """The guest's /proc/cmdline, without the trailing newline."""
        return self.read("/proc/cmdline").strip()

    # -- keeping files across boots ------------------------------------------------
    def save(self, paths, archive) -> Path:
        """Tar the given guest paths (those that exist) into a host file.

        The copy-on-write layers live in the guest's RAM and are gone at
        stop(); save() before it and pass the archive to the next boot's
        :meth:`restore` to carry what the guest wrote (say /etc and /boot)
        to the next boot of the same machine.
        """
        quoted = " ".join(shlex.quote(str(p).lstrip("/")) for p in paths)
        script = (f"cd / && set -- && for p in {quoted}; do [ -e \"$p\" ] && set -- \"$@\" \"$p\"; done; "
                  "tar -cpf - --numeric-owner \"$@\"")
        data = self.ssh(script, text=False).stdout
        archive = Path(archive)
        archive.write_bytes(data)
        return archive

    def restore(self, archive) -> None:
        """Unpack an archive made by :meth:`save` onto the guest's /."""
        self.ssh("tar -xpf - --numeric-owner -C /", input=Path(archive).read_bytes(), text=False)

    # -- Ansible -----------------------------------------------------------------------
    def ansible_vars(self) -> dict:
        """Inventory variables that make ansible-playbook reach this guest as root."""
        return {
            "ansible_host": "127.0.0.1",
            "ansible_port": self.ssh_port,
            "ansible_user": "root",
            "ansible_ssh_private_key_file": str(self.identity),
            "ansible_ssh_common_args": "-o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null "
                                       "-o IdentitiesOnly=yes",
        }


def _mib(size: str) -> int:
    units = {"M": 1, "G": 1024}
    size = size.strip().upper().removesuffix("B").removesuffix("I")
    if size[-1] in units:
        return int(size[:-1]) * units[size[-1]]
    return int(size) // (1024 * 1024)


def boot_all(vms) -> list:
    """Start every VM, then wait for each: the boots overlap.  Stops them all on failure."""
    vms = list(vms)
    try:
        for vm in vms:
            vm.start()
        for vm in vms:
            vm.wait()
    except BaseException:
        stop_all(vms)
        raise
    return vms


def stop_all(vms) -> None:
    for vm in vms:
        vm.stop()
