//! calico-node's job on a kinet node, as Calico does it: routes to the other
//! nodes' pod CIDRs, NAT outgoing for pod traffic leaving the pod CIDR,
//! ip_forward and the pods' MTU. A pure plan (objects in, desired state out)
//! and a thin runner that talks to the API through kube-rs only.

#![forbid(unsafe_code)]
