// Package healing is the node's self-healing: a MAPE-K loop (monitor,
// analyze, plan, execute over a knowledge base) and the GraphSAGE anomaly
// detector over the mesh graph.
//
// The detector lives in healing/anomaly: features from a node's view of
// the mesh, GraphSAGE and three baselines, their training, evaluation and
// model blobs. The loop will live here.
package healing
