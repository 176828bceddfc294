// Package twin is the mesh's digital twin: a deterministic discrete-event
// simulator that runs the real routing engine over simulated links and a
// virtual clock, with topologies, failure injection and MTTR, connectivity
// and cascade analysis.
//
// Nothing lives here yet; the simulator will.
package twin
