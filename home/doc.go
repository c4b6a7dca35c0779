// Package home opens the home directory of one trustsync device -- the
// directory where the device keeps its shared space, its private journal,
// its keys and its network settings -- with the same checks the trustsync
// command makes, so that an application gets a ready device in a few lines
// instead of wiring [store], [crdt] and [sync] by hand.
//
// # Opening and creating
//
// [Create] makes a new home: the directory (mode 0700), an optional
// encryption header sealed under a passphrase, the SQLite store, a new
// space with its first member and device, and the network configuration.
// [Open] opens an existing home and refuses, without creating anything, a
// directory that holds no space ([trustsync.ErrNotInitialized]), a home whose
// database lost its space ([trustsync.DamagedError]), a locked encrypted
// home ([ErrLocked]) and a wrong passphrase ([ErrWrongPassphrase]).
//
//	h, err := home.Open(dir, home.Options{Passphrase: pass})
//	if err != nil { ... }
//	defer h.Close()
//	id, err := h.Space().AddBoundary(ctx, "We talk before big purchases")
//
// # Encryption, lock and unlock
//
// An encrypted home seals a random data key under a passphrase
// (Argon2id); the store, and the journal, are encrypted under keys derived
// from it. [Open] takes the key from the [Keeper] while the home is unlocked,
// else from [Options.Passphrase], else from [Options.AskPassphrase].
// [Unlock] checks a passphrase and keeps the key in the keeper (the system
// keyring, else a file in the in-memory runtime directory), [Lock] forgets
// it and reports what it found.
//
// # Going online
//
// [Home.StartNode] starts the device's [sync.Node] with the kept listen
// addresses. A port 0 is bound by the system when the node listens, and the
// ports it got are saved, so the device listens on them from then on and its
// partner's devices find it again. [LockNetwork] keeps a second process of
// the same home from going online at the same time; within one process a
// Home has one node online at a time ([ErrOnline]).
//
// Pair once with [sync.Node.Invite] on one device and [sync.Node.Join] on
// the other; from then on each home keeps the other device's addresses, and
// its node dials it whenever both are online ([Home.StartNode] has an
// example). [Home.Close] closes the nodes the home started, then the space
// and the store: the channels of their Subscribe methods close, and no
// goroutine of theirs is left.
//
// # Files
//
// A home holds trustsync.db (the store, see [store.FileName]), chunk.key
// (a home without encryption) or encryption.json (an encrypted one),
// journal/ and network.lock. Their names and the keys derived from the
// data key are fixed: homes made by earlier versions open unchanged.
package home
