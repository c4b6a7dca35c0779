// Package store keeps a trustsync space durably: it implements
// [trustsync.Store] on disk with SQLite ([Open]) and in memory
// ([NewMemory]).
package store
