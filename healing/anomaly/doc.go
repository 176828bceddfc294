// Package anomaly is the mesh's anomaly detector: it turns a node's view
// of the mesh into per-node feature vectors, scores every node with a
// GraphSAGE model over the graph or with one of three baselines, trains
// and evaluates them, and reads and writes their model blobs.
//
// Like the routing engine it is pure: no goroutines, no sockets, no clock
// (time comes in the samples, and Evaluate times itself only through a
// clock it is given), no global random source (training takes a seed).
// TestPurity checks this. So a live node and the twin, given the same
// telemetry, compute the same scores, and the same data and seed train
// the same model, bit for bit.
//
// # Usage
//
// A node scores its neighbourhood once per telemetry interval, when it
// holds a new message of each of the neighbourhood's Sources:
//
//	det, err := anomaly.DefaultModel()              // or DecodeModel(blob)
//	s := anomaly.Features(view.Graph(now), &prevGraph, interval)
//	preds, err := det.ScoreGraph(s, neighbourIndexes) // nil: every node
//	// preds[k].Score, .IsAnomaly (Score >= 0.6), .Confidence, .Contributing
//	// the suspects: q = 2 neighbours flag it, two intervals in a row
//	// (persist := &anomaly.Persistence{Need: 2}, kept across intervals;
//	// Suspects' last argument says which neighbour flags what, nil when
//	// every node judges from this one view)
//	all, err := det.ScoreGraph(s, nil)
//	suspect := persist.Apply(s, anomaly.Suspects(s, all, 2, nil))
//
// Suspicion needs several witnesses: Suspects applies the quorum rule (a
// node is suspect when at least q distinct neighbours flag it, q = 2 by
// default), so one liar cannot frame a node; and it must persist, two
// intervals in a row by default (EvalConfig.Persistence), so that one
// interval's counters taken out of phase raise no alarm.
//
// Training and evaluation, as `x0tta6bl4 anomaly train|eval` run them
// (on data the digital twin makes, twin.Dataset):
//
//	det, stats, err := anomaly.Train(anomaly.DefaultTrainConfig(anomaly.KindGraphSAGE), episodes)
//	blob, err := det.MarshalBinary()                // anomaly.DigestHex(blob) names it
//	report, err := anomaly.Compare(detectors, heldOut, anomaly.DefaultEvalConfig())
//	// report.Shipped: ChooseShipped's pick; its JSON is `anomaly eval --json`'s
//
// # Data
//
// A Sample is one graph at one time: the nodes a view holds (sorted by
// address), each with a vector of node features, the directed links
// between them (a link is reported by its From node about its neighbour
// To) each with a vector of link features, and, for training and
// evaluation, a Label per node (Healthy or the gray fault's Class, with a
// fault number shared by the nodes one fault labels). An Episode is a run
// of samples one interval apart.
//
// Features makes a Sample of CurrentSchema from an overlay.Graph and the
// graph one interval earlier (for counter rates and links lost and new);
// the DATA-plane figures come from the graph's rates of the nodes that
// send version 2 telemetry. The schema's Doc fields give each feature's
// source, unit and transform; Schema.Hash names the schema in model
// blobs, so a model for another schema is refused.
//
// A Label may say Ignore: the node is down or rejoining after a restart
// (a crash, which routing repairs itself), neither a fault to find nor a
// healthy node; training and evaluation leave it out.
//
// # What a node can see of each gray fault
//
//   - blackhole (answers HELLOs, drops the DATA it should relay): its
//     HELLO RTT and loss are normal and its own report may be too. Its
//     neighbours see it in the DATA counts of telemetry version 2: they
//     hand it frames to relay and no one gets them relayed (relay_balance,
//     where one end's transit counts meet the other end's relay counts),
//     and what it claims to send them does not arrive (data_delivery).
//   - slow (adds D ms to each frame it relays): HELLOs are not relayed,
//     so only its own driver sees it, as the time from reading a frame to
//     relay to writing it on (forward_delay).
//   - overload: CPU and load (its own report), the RTT of HELLOs to and
//     from it (its neighbours' reports), late and missed telemetry.
//   - lossy (a link loses a fraction p of its frames, HELLOs as much, but
//     rarely three in a row, so the link stays up): HELLO loss, TCP
//     retransmits when a collector runs, and, with DATA counts at both
//     ends, the link's delivery. At p = 5% and one-second intervals the
//     counts are noisy: the HELLO delivery window (32 HELLOs) carries it.
//   - flap (a link goes down and up every T): each end's engine holds the
//     other dead while it still gossips (dead_talking; a node that
//     crashed goes silent instead), and the link comes back as a new
//     stream; links that leave the reports count as lost only between
//     nodes that still talk, so a node that restarts is no flap of its
//     neighbours' links.
//
// # Detectors
//
// Every detector implements Detector with the same normalisation
// (Normaliser: median and interquartile range per feature, clipped to
// ±10, shipped in the model) and the same calibration (the raw score
// that Train found to maximise event-level F1 on its validation split
// maps to the threshold, 0.6 by default).
//
//   - GraphSAGE: two GraphSAGE layers with the mean aggregator whose
//     messages carry both ways of the link, then a logistic output; its
//     Contributing come from occluding each input (setting it to its
//     median) and measuring the fall of the score (the first layer is
//     not computed again per input: the occluded input's weight columns
//     are added to its saved pre-activations). Trained by Adam on
//     class-weighted cross-entropy with input dropout, stopped early on
//     the validation split's average precision.
//   - MAD: the largest robust z-score (median and MAD of healthy training
//     nodes) of a node's flat input: its own features and the means of
//     its inbound and outbound links' (Sample.FlatInput).
//   - EWMA: the largest residual of the flat input from the node's own
//     exponentially weighted mean and variance.
//   - IsolationForest: an isolation forest over healthy flat inputs.
//
// GraphMargin says how much better GraphSAGE must do to be shipped
// rather than the best baseline (ChooseShipped).
//
// # Evaluation
//
// Evaluate scores by event: a fault episode counts once, detected if any
// node it labels is suspect (after the quorum and persistence rules) in
// any of its intervals, without point-adjust; a false alarm is a run of
// suspect intervals on a healthy node, beyond a grace of ten intervals
// after the node's own fault (its figures still show the fault that
// long: HELLO delivery covers 32 HELLOs, 8 s on the LAN profile). Nodes
// labelled Ignore count neither way. It reports precision, recall, F1,
// false alarms per healthy node-hour, detection delay p50 and p95 in
// intervals (persistence included), recall per class and microseconds
// per node scored. Training calibrates every detector's threshold under
// the same rules and learns nothing from the nodes they leave out.
//
// # Live rules and the federated round
//
// On a live node each neighbour scores the subject from its own view, and
// a message on the anomaly topic (protocols.AnomalyScores) says so.
// Witnesses is that topic's state machine: Receive is the validator's
// rule (size bound, decode, the scorer is the signer, time within
// MaxSkew, newer than the scorer's message held, the scorer's rate, one
// message per scorer in a table of MaxReporters), Signed records the
// telemetry message times each node signed, and Judge applies the quorum
// and persistence rules over the view: a score counts only from a member
// that neighbours the subject (a mutual link), with the adopted model,
// about a subject time the subject signed, and recently; persistence is
// held per scorer (its latest messages, numbered one after the other, all
// flag the subject), and a scorer the quorum holds suspect is no witness
// against another. Neighbourhood and ScoreMessage make a node's own
// message.
//
// A node without a collector (telemetry source none) reports no host
// figures; Features gives them as 0, and models of CurrentSchema read
// them, and the byte figures of the links the node reports, as unknown
// (normalised to 0, their median). Nodes that share one host, as a
// devnet's do, run without a collector for this reason: a shared
// collector's figures are the host's, no one node's.
//
// Models change by governance: a blob lives in the DHT under
// /x0model/<sha256> (ModelKey, ModelValidator). A federated round
// fine-tunes the model in force on a node's rehearsals of its own mesh
// (FineTune: the base's normaliser, threshold and calibration kept),
// announces the update (protocols.FLUpdate; Updates is that topic's
// rule), and any member proposes their FedAvg with a FedAvgClaim as the
// proposal's description; voters check it with CheckFedAvg, which must
// reproduce the proposed blob bit for bit.
//
// # Model blob
//
// docs/gossip.md section 5 is the normative specification of the blob,
// with vectors in docs/vectors/anomaly.json. A model is a blob of at most
// MaxModelSize bytes. Multi-byte integers
// are big-endian, floats IEEE 754 binary64 big-endian and finite;
// scales, spreads and alphas are positive.
//
//	offset size    field
//	0      4       magic "x0am"
//	4      1       format version (1)
//	5      1       kind: 1 graphsage, 2 mad, 3 ewma, 4 iforest
//	6      2       reserved, 0
//	8      32      schema hash (Schema.Hash)
//	40     1       name length n, at most 64
//	41     n       name, UTF-8
//	.      8       threshold, in (0, 1)
//	.      8       calibration cut: the raw score that maps to the threshold
//	.      8       calibration spread: Score = sigmoid((raw-cut)/spread + logit(threshold))
//	.      2       Fn, node features (1..256)
//	.      2       Fe, link features (1..256)
//	.      16·Fn   per node feature: center, scale
//	.      16·Fe   per link feature: center, scale
//	.      ...     body, by kind (D = Fn + 2·Fe, the flat input's size)
//	end-32 32      SHA-256 of every byte before it
//
//	graphsage: hidden sizes h1, h2 (2 bytes each, 1..256), then the
//	           weights: W1 (h1 rows of 2Fn+A, A = 2Fe+2), b1 (h1),
//	           W2 (h2 rows of 2h1+A), b2 (h2), wo (h2), bo (1)
//	mad:       D × (center, scale)
//	ewma:      alpha (8, in (0, 1]), warmup (2), D × floor
//	iforest:   ψ (2, 1..4096), trees t (2, 1..1024), then per tree its
//	           node count m (2, 1..2ψ-1) and m nodes, each a tag byte and
//	           0 (leaf): size (4, at most ψ), or
//	           1 (split): dimension (2, < D), split value (8), left (2),
//	           right (2), children after the node and within the tree
//
// DecodeModel checks all of it and refuses a blob with a *ModelError
// wrapping one of ErrTooLarge, ErrTruncated, ErrLength, ErrMagic,
// ErrVersion, ErrKind, ErrSchema, ErrChecksum and ErrField; a blob it
// accepts re-encodes to the same bytes. Digest (SHA-256 of the whole
// blob, what sha256sum prints) names a model for governance.
//
// # Default model
//
// default_model.bin is embedded (DefaultModel, DefaultModelBlob) with its
// version, name, kind and SHA-256 in default_model.go, and
// TestDefaultModelGolden pins its predictions on a stored sample (a
// held-out twin mesh with a blackhole). `go generate ./healing/anomaly`
// regenerates all of them and the evaluation in
// testdata/default_model_eval.json: internal/genmodel runs the digital
// twin for the training and held-out data (twin.TrainingData(1), with
// busy healthy relays, twin.HeldOutData(1001): other topologies and
// sizes, the weak end of every fault), trains every kind, evaluates them
// and embeds the one ChooseShipped picks: GraphSAGE, by far (F1 0.980
// against the best baseline's 0.588). Package anomalytest's synthetic meshes, which the
// first default model was trained on, remain for the package's own
// tests.
package anomaly
