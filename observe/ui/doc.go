// Package ui is the web dashboard of a watcher: HTML, CSS and JavaScript
// embedded in the binary and served under /ui/ by a node's API and by
// `x0tta6bl4 observe --ui`. It loads nothing from the Internet (its
// Content-Security-Policy allows its own origin only) and uses no
// library: the graph layout is a small spring-electrical one.
//
// The page reads the watcher's server-sent events at /v1/events (a
// stream.Hub; the snapshot and delta formats are observe's) and shows:
//
//   - the mesh as a live graph: nodes, links coloured by RTT and loss,
//     suspect nodes ringed, quarantined ones dashed, nodes that left the
//     view grey and labelled down; clicking a node shows its routes (the
//     serving node's own table from /v1/mesh/routes, else the shortest
//     paths by RTT over the links the view holds);
//   - a panel per node: its telemetry figures, its anomaly score with the
//     reporters that flag it and the contributing features, its links;
//   - governance: the proposals with their tallies and deadlines;
//   - healing: the node's plans and actions, observe-mode plans
//     included, or an empty state where there are none;
//   - the gossip peers' scores and the latest notable events.
//
// Every element that stands for a node (a graph node, a table row)
// carries data-peer="<peer ID>" and data-state="up|late|down"; proposal
// rows carry class "proposal" and data-id. The browser test drives the
// page through these.
//
// # Usage
//
//	mux.Handle("GET /ui/", ui.Handler())
//	mux.Handle("GET /v1/events", hub) // a stream.Hub
package ui
