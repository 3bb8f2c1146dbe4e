// Package cluster holds Steward's fault suite: it starts the cluster of scripts/cluster.sh (a
// PostgreSQL primary with a synchronous standby, three Steward nodes, HAProxy), drives a mixed
// load through HAProxy and, while it runs, kills a node with SIGKILL, stops the primary and
// promotes the standby, and cuts the nodes' network to the database. After each fault it checks
// what a business relies on: no acknowledged write lost, no event stored twice, the audit trail
// intact, leased jobs taken over, no erased customer back, and a consent withdrawal made on one
// node seen by every node on the next request.
//
// The package has only tests. The short form runs with the other tests (about two minutes);
// STEWARD_CLUSTER_SOAK=10m adds a soak at a steady rate reporting latency per operation over
// time, memory per node and database growth per event. See docs/cluster.md.
package cluster
