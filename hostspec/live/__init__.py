"""Reading a live host under a root: /proc, /sys, modprobe.d, the boot line, domain XML."""
