package sync

// ListenAddrs returns the addresses the node listens on as it bound them,
// without the /p2p/ID suffix: an address given with port 0 carries the
// port the system picked, and an unspecified IP (0.0.0.0, ::) stays as
// given, so the result can be kept and given back as [Config.ListenAddrs]
// to listen on the same ports next time. The relay transport's own
// listener (/p2p-circuit) is left out. It returns nil before Start.
func (n *Node) ListenAddrs() []string {
	if n.host == nil {
		return nil
	}
	var out []string
	for _, a := range n.host.Network().ListenAddresses() {
		if !isCircuit(a) {
			out = append(out, a.String())
		}
	}
	return out
}
