// Package healing is the node's self-healing: a MAPE-K loop (monitor,
// analyze, plan, execute over a knowledge base) and the GraphSAGE anomaly
// detector over the mesh graph.
//
// Nothing lives here yet; the loop and the detector will.
package healing
