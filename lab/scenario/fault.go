package scenario

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
)

// ErrFault wraps every error parsing a fault.
var ErrFault = errors.New("scenario: bad fault")

// FaultKind is what a Fault does to the mesh.
type FaultKind string

// The faults. Kill, Stop, Resume and Restart name nodes; Partition names
// groups; Heal names nothing; Degrade names one link.
const (
	// Kill ends a node's process at once (SIGKILL): its kernel closes its
	// connections, so its neighbours hear of it.
	Kill FaultKind = "kill"
	// Stop hangs a node (SIGSTOP): its connections stay up and only the
	// neighbours' HELLO timeouts notice.
	Stop FaultKind = "stop"
	// Resume continues a stopped node (SIGCONT).
	Resume FaultKind = "resume"
	// Restart starts a killed or stopped node again from its repo (a
	// stopped one is killed first).
	Restart FaultKind = "restart"
	// Partition cuts every link between the groups; nodes in no group
	// form one more group.
	Partition FaultKind = "partition"
	// Heal restores every link a partition cut.
	Heal FaultKind = "heal"
	// Degrade changes a link's delay, jitter or loss, both ways.
	Degrade FaultKind = "degrade"
)

// Fault is one scheduled change of the mesh.
type Fault struct {
	// At is the time from the start of traffic.
	At   time.Duration
	Kind FaultKind
	// Nodes for kill, stop, resume and restart.
	Nodes []int
	// Groups for partition.
	Groups [][]int
	// Link for degrade: its two ends.
	Link [2]int
	// Shape for degrade: the fields that SetDelay, SetJitter and SetLoss
	// say are to change.
	Shape                        Shape
	SetDelay, SetJitter, SetLoss bool
}

// Fails reports whether the fault takes nodes or links away (kill, stop,
// partition), as opposed to bringing them back or reshaping a link.
func (f Fault) Fails() bool {
	return f.Kind == Kill || f.Kind == Stop || f.Kind == Partition
}

// String is the fault in the syntax ParseFault reads.
func (f Fault) String() string {
	var args string
	switch f.Kind {
	case Kill, Stop, Resume, Restart:
		args = ":" + joinInts(f.Nodes, ",")
	case Partition:
		groups := make([]string, len(f.Groups))
		for i, g := range f.Groups {
			groups[i] = joinInts(g, ",")
		}
		args = ":" + strings.Join(groups, "/")
	case Degrade:
		var kv []string
		if f.SetDelay {
			kv = append(kv, "delay="+f.Shape.Delay.String())
		}
		if f.SetJitter {
			kv = append(kv, "jitter="+f.Shape.Jitter.String())
		}
		if f.SetLoss {
			kv = append(kv, "loss="+strconv.FormatFloat(f.Shape.Loss, 'g', -1, 64))
		}
		args = fmt.Sprintf(":%d-%d:%s", f.Link[0], f.Link[1], strings.Join(kv, ","))
	}
	return string(f.Kind) + args + "@" + f.At.String()
}

func joinInts(v []int, sep string) string {
	s := make([]string, len(v))
	for i, x := range v {
		s[i] = strconv.Itoa(x)
	}
	return strings.Join(s, sep)
}

// ParseFault reads one fault, KIND:ARGS@TIME:
//
//	kill:3@15s              kill node 3 fifteen seconds into the traffic
//	kill:2,5,8@15s          three nodes at once
//	stop:4@15s              hang node 4 (SIGSTOP)
//	resume:4@25s            let it go on (SIGCONT)
//	restart:3@30s           start node 3 again
//	partition:0,1,2/3,4@20s cut the links between {0,1,2}, {3,4} and the rest
//	heal@30s                restore them
//	degrade:3-4:delay=50ms,jitter=5ms,loss=0.05@20s
//
// Node numbers must be below nodes.
func ParseFault(s string, nodes int) (Fault, error) {
	spec, at, ok := strings.Cut(s, "@")
	if !ok {
		return Fault{}, fmt.Errorf("%w %q: want KIND:ARGS@TIME", ErrFault, s)
	}
	d, err := time.ParseDuration(at)
	if err != nil || d < 0 {
		return Fault{}, fmt.Errorf("%w %q: time %q is not a duration of 0 or more", ErrFault, s, at)
	}
	kind, args, _ := strings.Cut(spec, ":")
	f := Fault{At: d, Kind: FaultKind(kind)}
	node := func(x string) (int, error) {
		i, err := strconv.Atoi(strings.TrimSpace(x))
		if err != nil || i < 0 || i >= nodes {
			return 0, fmt.Errorf("%w %q: node %q is not in 0..%d", ErrFault, s, x, nodes-1)
		}
		return i, nil
	}
	list := func(x string) ([]int, error) {
		var out []int
		for _, p := range strings.Split(x, ",") {
			i, err := node(p)
			if err != nil {
				return nil, err
			}
			if slices.Contains(out, i) {
				return nil, fmt.Errorf("%w %q: node %d twice", ErrFault, s, i)
			}
			out = append(out, i)
		}
		return out, nil
	}
	switch f.Kind {
	case Kill, Stop, Resume, Restart:
		if f.Nodes, err = list(args); err != nil {
			return Fault{}, err
		}
	case Partition:
		seen := map[int]bool{}
		for _, g := range strings.Split(args, "/") {
			grp, err := list(g)
			if err != nil {
				return Fault{}, err
			}
			for _, i := range grp {
				if seen[i] {
					return Fault{}, fmt.Errorf("%w %q: node %d in two groups", ErrFault, s, i)
				}
				seen[i] = true
			}
			f.Groups = append(f.Groups, grp)
		}
	case Heal:
		if args != "" {
			return Fault{}, fmt.Errorf("%w %q: heal takes no arguments", ErrFault, s)
		}
	case Degrade:
		link, kvs, _ := strings.Cut(args, ":")
		a, b, ok := strings.Cut(link, "-")
		if !ok {
			return Fault{}, fmt.Errorf("%w %q: want degrade:A-B:delay=D,jitter=J,loss=P", ErrFault, s)
		}
		if f.Link[0], err = node(a); err != nil {
			return Fault{}, err
		}
		if f.Link[1], err = node(b); err != nil {
			return Fault{}, err
		}
		for _, kv := range strings.Split(kvs, ",") {
			k, v, _ := strings.Cut(kv, "=")
			switch k {
			case "delay":
				f.Shape.Delay, err = time.ParseDuration(v)
				f.SetDelay = true
			case "jitter":
				f.Shape.Jitter, err = time.ParseDuration(v)
				f.SetJitter = true
			case "loss":
				f.Shape.Loss, err = strconv.ParseFloat(v, 64)
				f.SetLoss = true
			default:
				err = fmt.Errorf("unknown key %q", k)
			}
			if err != nil {
				return Fault{}, fmt.Errorf("%w %q: %v", ErrFault, s, err)
			}
		}
		if err := f.Shape.Validate(); err != nil {
			return Fault{}, fmt.Errorf("%w %q: %v", ErrFault, s, err)
		}
	default:
		return Fault{}, fmt.Errorf("%w %q: unknown kind %q (want kill, stop, resume, restart, partition, heal or degrade)", ErrFault, s, kind)
	}
	return f, nil
}

// ParseFaults reads each spec with ParseFault and sorts the faults by
// time (ties keep their order).
func ParseFaults(specs []string, nodes int) ([]Fault, error) {
	out := make([]Fault, 0, len(specs))
	for _, s := range specs {
		f, err := ParseFault(s, nodes)
		if err != nil {
			return nil, err
		}
		out = append(out, f)
	}
	slices.SortStableFunc(out, func(a, b Fault) int { return int(a.At - b.At) })
	return out, nil
}

// Failed lists the nodes that a kill or stop among faults takes down, in
// order of first mention: the nodes that no flow may start or end at.
func Failed(faults []Fault) []int {
	var out []int
	for _, f := range faults {
		if f.Kind == Kill || f.Kind == Stop {
			for _, i := range f.Nodes {
				if !slices.Contains(out, i) {
					out = append(out, i)
				}
			}
		}
	}
	return out
}
