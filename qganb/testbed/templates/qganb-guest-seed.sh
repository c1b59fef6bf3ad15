#!/bin/sh
# qganb testbed: install a fleet guest's host key pair and hostname from its read-only seed disk.
set -eu
seed=/run/qganb-seed
mkdir -p "$seed"
mount -t ext4 -o ro,nodev,nosuid,noexec /dev/vdb "$seed"
trap 'umount "$seed" && rmdir "$seed"' EXIT
install -m 0600 "$seed/ssh_host_ed25519_key" /etc/ssh/ssh_host_ed25519_key
install -m 0644 "$seed/ssh_host_ed25519_key.pub" /etc/ssh/ssh_host_ed25519_key.pub
name=$(cat "$seed/hostname")
printf '%s\n' "$name" > /etc/hostname
printf '127.0.0.1 localhost\n127.0.1.1 %s\n' "$name" > /etc/hosts
# systemd set the kernel's hostname from the image's /etc/hostname before any unit ran.
printf '%s' "$name" > /proc/sys/kernel/hostname
