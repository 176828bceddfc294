// Package anomalytest generates labelled synthetic telemetry for the
// anomaly detectors: meshes whose nodes report what a live node's view
// holds (overlay.Graph), the DATA-plane rates of version 2 telemetry
// included, interval after interval, with one gray fault per
// episode, turned into samples by anomaly.Features exactly as a live node
// would.
//
// It is a stand-in for the digital twin's traces, simple enough to read
// in one sitting: traffic is counted per interval along shortest paths
// rather than simulated frame by frame, and every figure is a plausible
// function of the mesh's state plus noise. It serves the detector
// package's own tests, which want labelled data in milliseconds; the
// default model is trained on the twin's telemetry (twin.Dataset).
//
// Everything is deterministic by Config.Seed: no goroutines, no clock, no
// global random source.
//
// # Usage
//
//	eps := anomalytest.Generate(anomalytest.TrainingConfig(1))
//	det, _, err := anomaly.Train(anomaly.DefaultTrainConfig(anomaly.KindGraphSAGE), eps)
//	res, err := anomaly.Evaluate(det, anomalytest.Generate(anomalytest.HeldOutConfig(2)), anomaly.DefaultEvalConfig())
//
// # What each fault looks like
//
//   - blackhole: a relay with flows crossing it forwards nothing. Its
//     HELLOs, CPU and own counters look healthy; half the time (a drop in
//     its driver) it even reports the frames as forwarded and sent. Only
//     its neighbours see it: they send it transit frames and receive none
//     back, and the DATA they get from it falls short of what it claims
//     to send.
//   - slow: a relay adds 20 ms or more to each frame it forwards; only
//     its own forward delay shows it (HELLOs are not relayed).
//   - overload: CPU and load rise, so do its forward delay, the RTT of
//     HELLOs to and from it, the age of its gossip and its missed
//     messages.
//   - lossy: one link loses a fraction of its DATA both ways; HELLOs see
//     a tenth to a half of that, TCP retransmits rise, and the delivery
//     of DATA measured from both ends falls.
//   - flap: one link goes down and up every few intervals: it vanishes
//     from both ends' reports, reappears as new, with HELLO loss as it
//     comes back, and routes move.
//
// Healthy meshes are not quiet: flows start, stop and surge, CPUs burst
// for an interval or two, links have brief HELLO loss, and now and then a
// healthy node restarts (its neighbours lose and regain a link).
package anomalytest
