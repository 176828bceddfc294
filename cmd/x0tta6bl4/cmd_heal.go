package main

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/x0tta6bl4/x0tta6bl4/healing"
	"github.com/x0tta6bl4/x0tta6bl4/node"
)

// The heal group: the running node's self-healing loop through its API.

func runHealStatus(ctx context.Context, e *env, args []string) error {
	return showDaemon(ctx, e, "heal status", "print JSON", args, (*node.Client).HealStatus, printHealStatus)
}

func runHealHistory(ctx context.Context, e *env, args []string) error {
	return showDaemon(ctx, e, "heal history", "print JSON", args, (*node.Client).HealHistory, printHealHistory)
}

func runHealMode(ctx context.Context, e *env, args []string) error {
	fs := e.newFlags("heal mode")
	repoPath := repoFlag(fs)
	asJSON := fs.Bool("json", false, "print JSON")
	pos, err := parseWant(fs, args, 1, "heal mode observe|enforce")
	if err != nil {
		return err
	}
	if _, err := healing.ParseMode(pos[0]); err != nil {
		return usageError{fmt.Sprintf("heal mode: %q: want observe or enforce", pos[0])}
	}
	return healControl(ctx, e, repoPath, *asJSON, func(c *node.Client) (node.HealStatus, error) {
		return c.HealSetMode(ctx, pos[0])
	})
}

func runHealPause(ctx context.Context, e *env, args []string) error {
	fs := e.newFlags("heal pause")
	repoPath := repoFlag(fs)
	asJSON := fs.Bool("json", false, "print JSON")
	reason := fs.String("reason", "", "why, shown in heal status (at most 256 bytes)")
	if err := parse(fs, args); err != nil {
		return err
	}
	return healControl(ctx, e, repoPath, *asJSON, func(c *node.Client) (node.HealStatus, error) {
		return c.HealPause(ctx, *reason)
	})
}

func runHealResume(ctx context.Context, e *env, args []string) error {
	fs := e.newFlags("heal resume")
	repoPath := repoFlag(fs)
	asJSON := fs.Bool("json", false, "print JSON")
	if err := parse(fs, args); err != nil {
		return err
	}
	return healControl(ctx, e, repoPath, *asJSON, func(c *node.Client) (node.HealStatus, error) {
		return c.HealResume(ctx)
	})
}

// healControl makes one change through the daemon's API and prints the
// status it answers with.
func healControl(ctx context.Context, e *env, repoPath func() (string, error), asJSON bool, call func(*node.Client) (node.HealStatus, error)) error {
	c, err := client(repoPath)
	if err != nil {
		return err
	}
	st, err := call(c)
	if err != nil {
		return daemonError(err)
	}
	if asJSON {
		return printJSON(e, st)
	}
	printHealStatus(e, st)
	return nil
}

func printHealStatus(e *env, st node.HealStatus) {
	w := e.stdout
	state := st.Mode.String()
	if st.Paused {
		state += ", paused"
		if st.PauseReason != "" {
			state += ": " + st.PauseReason
		}
	}
	fmt.Fprintf(w, "mode        %s (rehearsal %s)\n", state, st.Rehearsal)
	fmt.Fprintf(w, "cycles      %d, %d held\n", st.Cycles, st.Held)
	lc := st.LastCycle
	if !lc.Time.IsZero() {
		fmt.Fprintf(w, "last cycle  %s: %d nodes in view, %d suspect (%.0f%%)", lc.Time.Local().Format(time.TimeOnly), lc.ViewNodes, lc.Suspects, 100*lc.Anomalous)
		if lc.Held != "" {
			fmt.Fprintf(w, ", held: %s", lc.Held)
		}
		fmt.Fprintln(w)
	}
	for _, inc := range st.Incidents {
		var ladder []string
		for _, c := range inc.Ladder {
			ladder = append(ladder, fmt.Sprintf("%s %.2f", c.Strategy, c.Benefit))
		}
		fmt.Fprintf(w, "incident    #%d %s %s, step %d of [%s]", inc.ID, inc.Cause, inc.Subject.Short(), inc.Step, strings.Join(ladder, ", "))
		if inc.Plan != 0 {
			fmt.Fprintf(w, ", plan %d %s", inc.Plan, inc.Status)
		}
		fmt.Fprintln(w)
	}
	for _, a := range st.Active {
		fmt.Fprintf(w, "in force    %s %s until %s\n", a.Kind, actionSubject(a), a.Expires.Local().Format(time.TimeOnly))
	}
	for _, k := range st.Knowledge {
		fmt.Fprintf(w, "knowledge   %-9s %-17s %d ok, %d failed, mean %.2f\n", k.Cause, k.Strategy, k.Successes, k.Failures, k.Mean())
	}
	var counts []string
	for _, c := range st.Counters {
		if c.Count > 0 {
			counts = append(counts, fmt.Sprintf("%s %s %d", c.Strategy, c.Status, c.Count))
		}
	}
	if len(counts) > 0 {
		fmt.Fprintf(w, "plans       %s\n", strings.Join(counts, ", "))
	}
	var errs []string
	for s, n := range st.ActionErrors {
		if n > 0 {
			errs = append(errs, fmt.Sprintf("%s %d", s, n))
		}
	}
	if len(errs) > 0 {
		fmt.Fprintf(w, "errors      %s\n", strings.Join(errs, ", "))
	}
}

// actionSubject names what an action is about.
func actionSubject(a healing.Action) string {
	switch {
	case a.Kind == healing.StrategyShed:
		return fmt.Sprintf("to %.0f%% of relay traffic", 100*a.Share)
	case a.Kind == healing.StrategyRestart:
		return a.Component
	case a.Kind == healing.StrategyReconnect:
		return a.Target.Short() + " -> " + a.Replacement.Short()
	}
	return a.Target.Short()
}

func printHealHistory(e *env, hi node.HealHistory) {
	w := e.stdout
	if len(hi.Plans) == 0 {
		fmt.Fprintln(w, "no plans")
	}
	for _, p := range hi.Plans {
		fmt.Fprintf(w, "%s  plan %d  #%d step %d  %s %s -> %s %s  %s", p.Time.Local().Format(time.TimeOnly), p.ID, p.Incident, p.Step,
			p.Diagnosis.Cause, p.Diagnosis.Subject.Short(), p.Strategy, actionSubject(p.Action), p.Status)
		if p.WouldExecute {
			fmt.Fprint(w, " (would execute)")
		}
		if r := p.Rehearsal; r != nil {
			fmt.Fprintf(w, "  rehearsed: delivery %.2f->%.2f, would heal in %.1fs", r.DeliveryBefore, r.DeliveryAfter, r.HealedIn.Seconds())
		}
		if p.ClearedIn > 0 {
			fmt.Fprintf(w, "  cleared in %.1fs", p.ClearedIn.Seconds())
		}
		if p.Reason != "" {
			fmt.Fprintf(w, "  (%s)", p.Reason)
		}
		fmt.Fprintln(w)
	}
	for _, c := range hi.Cycles {
		var ds []string
		for _, d := range c.Diagnoses {
			ds = append(ds, d.Cause.String()+" "+d.Subject.Short())
		}
		what := strings.Join(ds, ", ")
		if what == "" {
			what = "healthy"
		}
		if c.Held != "" {
			what += " (held: " + c.Held + ")"
		}
		fmt.Fprintf(w, "%s  cycle: %d/%d suspect: %s\n", c.Time.Local().Format(time.TimeOnly), c.Suspects, c.ViewNodes, what)
	}
}
