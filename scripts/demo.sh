#!/usr/bin/env bash
# Sets up the machine, builds kinet, starts the demo lab and shows a short tour.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
cargo build --release --quiet
install -m 0755 target/release/kinet /usr/local/bin/kinet

kinet up --demo
tour() { printf '\n\033[1m$ %s\033[0m\n' "$*"; "$@"; }
tour kinet kubectl get nodes -o wide
tour kinet kubectl get pods -n demo -o wide
web2=$(kinet kubectl get pod web-2 -n demo -o jsonpath='{.status.podIP}')
web1=$(kinet kubectl get pod web-1 -n demo -o jsonpath='{.status.podIP}')
echo
echo "# client (node1) to web-2 (node2): a routed path across the lab LAN"
tour kinet exec -n demo client -- ping -c 2 "$web2"
tour kinet exec -n demo client -- traceroute -n -q 1 "$web2"
tour kinet exec -n demo client -- wget -qO- "http://$web1/hostname"
echo
tour kinet kubectl logs -n demo web-1
tour kinet status
echo
echo "The lab stays up: try 'kinet kubectl get pods -A -o wide', then 'kinet down' to remove it."
