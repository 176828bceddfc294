// Package overlaytest is a deterministic simulated network of overlay
// routing engines for tests: one goroutine, a virtual clock, links with a
// delay and loss, nodes that can be killed and restarted, and checks of
// the routing invariants. The same seed gives the same run, event for
// event.
//
// # Usage
//
//	net := overlaytest.New(overlay.DefaultLANConfig(), 1)
//	ids := net.AddNodes(5)
//	for _, e := range overlaytest.Ring(len(ids)) {
//		net.Connect(e[0], e[1])
//	}
//	net.RunFor(time.Second) // HELLOs: neighbors learn each other
//	_ = net.Send(1, 3, []byte("hi"))
//	net.RunFor(100 * time.Millisecond)
//	path, ok, err := net.Walk(1, 3) // [1 2 3], true, nil
//
// Nodes are numbered from 1 in the order they are added. Frames cross a
// link after its latency (zero unless set), in the order they were sent;
// frames sent at the same instant are processed first in, first out, and
// a node's timers fire at the engine's NextDeadline.
package overlaytest
