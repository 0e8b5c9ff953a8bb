"""Facts about the whole machine for the device record (`ardoise.device/1`).

One module per source, each a pure parser plus a reader whose root (sysfs, procfs, efivars)
is an argument, so the tests replay captures: cpu (/proc/cpuinfo, /proc/meminfo,
/sys/devices/system/cpu), memory (`dmidecode -t 17`), storage (`smartctl -j -x`), power
(/sys/class/power_supply), edid (/sys/class/drm/*/edid), firmware (TPM, UEFI, Secure Boot),
netif (/sys/class/net) and win11 (Windows 11 hardware requirements).
"""
