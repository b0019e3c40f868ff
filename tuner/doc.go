// Package tuner prepares a host for a million long-lived TCP connections.
//
// It turns a target (role, connections, server ports, source and server IPs)
// into requirements, probes what the host really has (live value, persisted
// value and the file it comes from, what a new process gets), and reports one
// row per setting. Apply changes only what fails, never lowers a value that
// already satisfies the target, snapshots the previous state first and writes
// files atomically; Revert restores that snapshot exactly, except what was
// changed since apply (the snapshot records what apply left), which it keeps
// and reports unless forced.
//
// The Linux back end reads and writes everything through a root directory
// (Options.Root), so tests run against fixture trees under testdata and live
// tests run inside a network namespace of their own. The Windows back end
// drives netsh and the registry through a small interface (winHost) so its
// logic is tested on any OS with recorded outputs and fakes.
//
// Plan does the capacity arithmetic for a whole test: how many client hosts,
// source IPs and server ports a target needs, and the commands to run.
package tuner
