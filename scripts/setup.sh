#!/usr/bin/env bash
# Installs what kinet needs on a fresh Debian/Ubuntu machine: the host tools pods
# use (busybox, dig, ping, curl, nc, telnet, iperf3, tcpdump, nftables, iproute2), the tools
# the course runs on nodes (sudo, iptables, conntrack, ipvsadm, socat, mtr) and checks for
# the Rust toolchain and kubectl. Safe to run again: it installs only what is missing.
set -euo pipefail

need=()
have() { command -v "$1" >/dev/null 2>&1; }
have busybox || need+=(busybox)
have dig || need+=(dnsutils)
have ping || need+=(iputils-ping)
have curl || need+=(curl)
have nc || need+=(netcat-openbsd)
have tcpdump || need+=(tcpdump)
have nft || need+=(nftables)
have ip || need+=(iproute2)
have traceroute || need+=(traceroute)
have telnet || need+=(telnet)
have iperf3 || need+=(iperf3)
have sudo || need+=(sudo)
have iptables-restore || need+=(iptables)
have conntrack || need+=(conntrack)
have ipvsadm || need+=(ipvsadm)
have socat || need+=(socat)
have mtr || need+=(mtr-tiny)

if [ "${#need[@]}" -gt 0 ]; then
  echo "Installing: ${need[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq "${need[@]}" >/dev/null
fi

if ! have cargo; then
  echo "error: cargo (Rust) is required to build kinet: https://rustup.rs" >&2
  exit 1
fi
# The test command's lint gates need rustfmt and clippy.
if ! cargo fmt --version >/dev/null 2>&1 || ! cargo clippy --version >/dev/null 2>&1; then
  rustup component add rustfmt clippy
fi
if ! have kubectl; then
  echo "warning: kubectl is not on PATH; 'kinet kubectl' and the kubectl tests need it" >&2
fi
